"""The device policy file: a TOML document parsed strictly into a :class:`Policy` value.

One responsibility: turn the file into checked values, failing closed.  Any
key or table the schema below does not name, a value of the wrong type, an
unknown algorithm or version, an unreadable root file or a policy that trusts
no root at all is a :class:`PolicyError` naming the file and the key, never
a silently ignored line.  What the values mean for a device is
:mod:`sysfs_bridge.policy`'s business.

Schema (every key optional unless marked; see ``contrib/policy.example.toml``)::

    action = "connect"                 # or "bind": what an allowed device gets (deny: "refuse")

    [trust]                            # required: at least one root in total
    roots = ["roots/vendor.pem"]       # PEM or DER files, relative to the policy file
    root_hashes = ["sha384:HEX"]       # hash of a root's DER: sha256 / sha384 / sha512

    [spdm]
    min_version = "1.2"                # and/or versions = ["1.2", "1.3"]
    hash = ["sha384"]                  # allowed lists, by devsec's names ...
    min_hash = "sha384"                # ... and/or minimum strengths (STRENGTH)
    asym = [...]        min_asym = "..."
    measurement_hash = [...]   min_measurement_hash = "..."
    dhe = [...]         min_dhe = "..."
    aead = [...]        min_aead = "..."

    [require]
    capabilities = ["measurements", "sessions", "ide", "tdisp"]

    [[reference]]                      # one per device model
    vendor = 0x1af4                    # required
    device = 0x1234                    # required
    [reference.measurements]           # index = [allowed values, hex]
    1 = ["9f86d081884c7d65..."]
    # and/or reference values from a CoRIM (a vendor's, or ``devsec evidence reference``'s):
    corim = "vendor.corim"             # relative to the policy file; its values join the table's
    corim_class = "spdm:O=ACME"        # the CoRIM environment class to take (needed if it has several)
    corim_signer = "signer.pem"        # a signed CoRIM (COSE_Sign1) must verify with this certificate

    [tdisp]                            # the TDI's interface report (interface_report/)
    interface_info = ["NO_FW_UPDATE"]  # INTERFACE_INFO flags that must be set
    max_mmio_ranges = 8                # the most MMIO ranges the report may list
    device_specific_info = ["", "..."] # allowed DEVICE_SPECIFIC_INFO values (hex; "" = none)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Final

from spdm.crypto import Certificate, PublicKey, hash_size, load_certificates
from spdm.errors import ConfigurationError, DevsecError
from spdm.messages.codes import BaseHashAlgo, SpdmVersion
from spdm.names import AEADS, DHE_GROUPS, HASHES, KEMS, MEASUREMENT_HASHES, SIGNING_ALGORITHMS, VERSIONS
from spdm.record import record
from tdisp.messages import InterfaceInfo

__all__ = [
    "ACTIONS",
    "ALGORITHM_KINDS",
    "CAPABILITIES",
    "STRENGTH",
    "AlgorithmRule",
    "Policy",
    "PolicyError",
    "ReferenceValues",
    "TdispRule",
    "load_policy",
]

ACTIONS: Final = ("connect", "bind")
"""What an allowed device gets; a denied one is always refused."""

CAPABILITIES: Final = ("measurements", "sessions", "ide", "tdisp")
"""The capabilities ``[require] capabilities`` may name (their meaning: :mod:`sysfs_bridge.policy`)."""

ALGORITHM_KINDS: Final[Mapping[str, frozenset[str]]] = {
    "hash": frozenset(HASHES),
    "asym": frozenset(SIGNING_ALGORITHMS),
    "measurement_hash": frozenset(MEASUREMENT_HASHES),
    "dhe": frozenset(DHE_GROUPS),
    "aead": frozenset(AEADS),
    "kem": frozenset(KEMS),
}
"""Each ``[spdm]`` algorithm kind and the names it accepts (those of :mod:`spdm.names`).

``asym`` takes the ML-DSA sets (``ml-dsa-65``) beside the classic algorithms; ``kem``
constrains an SPDM 1.4 session's ML-KEM the way ``dhe`` constrains its DHE group."""

STRENGTH: Final[Mapping[str, int]] = {
    "sha256": 128, "sha384": 192, "sha512": 256,
    "sha3256": 128, "sha3384": 192, "sha3512": 256, "sm3256": 128,
    "rsassa-2048": 112, "rsapss-2048": 112, "rsassa-3072": 128, "rsapss-3072": 128,
    "rsassa-4096": 152, "rsapss-4096": 152,
    "ecdsa-p256": 128, "ecdsa-p384": 192, "ecdsa-p521": 256, "ed25519": 128,
    "ffdhe2048": 112, "ffdhe3072": 128, "ffdhe4096": 152,
    "secp256r1": 128, "secp384r1": 192, "secp521r1": 256,
    "aes-128-gcm": 128, "aes-256-gcm": 256, "chacha20-poly1305": 256,
    "ml-dsa-44": 128, "ml-dsa-65": 192, "ml-dsa-87": 256,
    "ml-kem-768": 192, "ml-kem-1024": 256,
}
"""Security strength in bits (NIST SP 800-57 Part 1 Table 2; hashes by collision resistance),
what ``min_<kind>`` compares.  ``raw-bit-stream-only`` is no hash and meets no minimum.
ML-DSA and ML-KEM sets count the classical strength of their NIST security category
(FIPS 204/203: categories 2/3/5 for ML-DSA-44/65/87, 3/5 for ML-KEM-768/1024), so
``min_asym = "ecdsa-p384"`` admits ML-DSA-65 and ML-DSA-87, not ML-DSA-44."""

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_HEX_OR_EMPTY = re.compile(r"(?:[0-9a-fA-F]{2})*")
_INTERFACE_INFO: Final = {flag.name: flag for flag in InterfaceInfo if flag.name}
_MAX_MMIO_RANGES: Final = 0xFFFF_FFFF  # MMIO_RANGE_COUNT is a 32-bit field
_SCHEMA: Final[Mapping[str, frozenset[str]]] = {
    "": frozenset({"action", "trust", "spdm", "require", "reference", "tdisp"}),
    "trust": frozenset({"roots", "root_hashes"}),
    "spdm": frozenset({"min_version", "versions"} | {f"{p}{kind}" for kind in ALGORITHM_KINDS
                                                     for p in ("", "min_")}),
    "require": frozenset({"capabilities"}),
    "reference": frozenset({"vendor", "device", "measurements", "corim", "corim_class", "corim_signer"}),
    "tdisp": frozenset({"interface_info", "max_mmio_ranges", "device_specific_info"}),
}


class PolicyError(ConfigurationError):
    """The policy file is unreadable or breaks the schema; the message names the file and key."""


@record(frozen=True, slots=True)
class AlgorithmRule:
    """The constraint on one kind of algorithm.

    Attributes:
        kind: ``hash``, ``asym``, ``measurement_hash``, ``dhe`` or ``aead``.
        allowed: the names allowed (None: any).
        minimum: the weakest name allowed by :data:`STRENGTH` (None: no minimum).
    """

    kind: str
    allowed: frozenset[str] | None = None
    minimum: str | None = None

    def violation(self, name: str) -> str | None:
        """Why ``name`` breaks this rule, or None when it satisfies it."""
        if self.allowed is not None and name not in self.allowed:
            return f"{name} is not allowed (allowed: {', '.join(sorted(self.allowed))})"
        if self.minimum is not None and STRENGTH.get(name, 0) < STRENGTH[self.minimum]:
            return f"{name} is weaker than the minimum {self.minimum}"
        return None


@record(frozen=True)
class ReferenceValues:
    """Reference measurements for one device model.

    Attributes:
        vendor / device: the PCI Vendor and Device IDs they apply to.
        measurements: measurement index -> the values (digests, or raw values
            for raw blocks) the device may report there.
    """

    vendor: int
    device: int
    measurements: Mapping[int, frozenset[bytes]] = field(default_factory=dict, hash=False)


@record(frozen=True, slots=True)
class TdispRule:
    """What the TDI's interface report must say (``[tdisp]``).

    Attributes:
        interface_info: INTERFACE_INFO flags that must all be set.
        max_mmio_ranges: the most MMIO ranges the report may list (None: any number).
        device_specific_info: the DEVICE_SPECIFIC_INFO values allowed (None: any).
    """

    interface_info: InterfaceInfo = InterfaceInfo(0)
    max_mmio_ranges: int | None = None
    device_specific_info: frozenset[bytes] | None = None


@record(frozen=True)
class Policy:
    """A loaded policy (see the module docstring for the file's schema).

    Attributes:
        source: the file it came from.
        action: ``"connect"`` or ``"bind"``.
        roots: trusted root certificates (from ``trust.roots``).
        root_hashes: trusted roots by hash, as (hash algorithm, digest).
        min_version / versions: the SPDM version rules (None: no rule).
        algorithms: one rule per constrained kind.
        required: the capabilities a device must have.
        references: (vendor, device) -> reference values.
        tdisp: the rule on the TDI's interface report (None: no ``[tdisp]`` table).
    """

    source: Path
    action: str = "connect"
    roots: tuple[Certificate, ...] = ()
    root_hashes: tuple[tuple[BaseHashAlgo, bytes], ...] = ()
    min_version: SpdmVersion | None = None
    versions: frozenset[SpdmVersion] | None = None
    algorithms: tuple[AlgorithmRule, ...] = ()
    required: frozenset[str] = frozenset()
    references: Mapping[tuple[int, int], ReferenceValues] = field(default_factory=dict, hash=False)
    tdisp: TdispRule | None = None


class _Reader:
    """Typed access to the parsed TOML, every failure naming the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.path}: {key}: {problem}")

    def table(self, value: object, key: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        schema = _SCHEMA[key.split("[")[0]]
        for name in value:
            if name not in schema:
                where = f"{key}.{name}" if key else name
                raise self.error(where, f"unknown key (expected one of {', '.join(sorted(schema))})")
        return value

    def string(self, value: object, key: str, choices: Mapping[str, object] | tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def strings(self, value: object, key: str,
                choices: Mapping[str, object] | tuple[str, ...] | None = None) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.error(key, "must be a non-empty list of strings")
        if choices is None:
            if not all(isinstance(item, str) for item in value):
                raise self.error(key, "must be a non-empty list of strings")
            return tuple(value)
        return tuple(self.string(item, key, choices) for item in value)

    def integer(self, value: object, key: str, limit: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
            raise self.error(key, f"must be an integer 0..{limit:#x}")
        return value

    def hex_bytes(self, value: object, key: str) -> bytes:
        if not isinstance(value, str) or _HEX.fullmatch(value) is None:
            raise self.error(key, f"{value!r} is not a hexadecimal byte string")
        return bytes.fromhex(value)


def _roots(reader: _Reader, trust: dict[str, object]) -> tuple[Certificate, ...]:
    roots: list[Certificate] = []
    for name in reader.strings(trust["roots"], "trust.roots") if "roots" in trust else ():
        file = reader.path.parent / name
        try:
            roots += load_certificates(file.read_bytes())
        except OSError as exc:
            raise reader.error("trust.roots", f"cannot read {file}: {exc.strerror}") from exc
        except ConfigurationError as exc:
            raise reader.error("trust.roots", f"{file}: {exc}") from exc
    return tuple(roots)


def _root_hashes(reader: _Reader, trust: dict[str, object]) -> tuple[tuple[BaseHashAlgo, bytes], ...]:
    hashes = []
    if "root_hashes" not in trust:
        return ()
    for text in reader.strings(trust["root_hashes"], "trust.root_hashes"):
        name, _, hexdigest = text.partition(":")
        alg = HASHES.get(name)
        if alg is None:
            raise reader.error("trust.root_hashes", f"{text!r} does not start with one of "
                                                    f"{', '.join(f'{h}:' for h in HASHES)}")
        value = reader.hex_bytes(hexdigest, "trust.root_hashes")
        if len(value) != hash_size(alg):
            raise reader.error("trust.root_hashes", f"{text!r}: a {name} digest has "
                                                    f"{hash_size(alg)} bytes, not {len(value)}")
        hashes.append((alg, value))
    return tuple(hashes)


def _spdm(reader: _Reader, spdm: dict[str, object]) -> tuple[
        SpdmVersion | None, frozenset[SpdmVersion] | None, tuple[AlgorithmRule, ...]]:
    min_version = (VERSIONS[reader.string(spdm["min_version"], "spdm.min_version", tuple(VERSIONS))]
                   if "min_version" in spdm else None)
    versions = (frozenset(VERSIONS[v] for v in reader.strings(spdm["versions"], "spdm.versions",
                                                               tuple(VERSIONS)))
                if "versions" in spdm else None)
    rules = []
    for kind, names in ALGORITHM_KINDS.items():
        choices = tuple(sorted(names))
        allowed = (frozenset(reader.strings(spdm[kind], f"spdm.{kind}", choices))
                   if kind in spdm else None)
        ranked = tuple(sorted(name for name in names if name in STRENGTH))
        minimum = (reader.string(spdm[f"min_{kind}"], f"spdm.min_{kind}", ranked)
                   if f"min_{kind}" in spdm else None)
        if allowed is not None or minimum is not None:
            rules.append(AlgorithmRule(kind, allowed, minimum))
    return min_version, versions, tuple(rules)


def _references(reader: _Reader, entries: object) -> dict[tuple[int, int], ReferenceValues]:
    if not isinstance(entries, list):
        raise reader.error("reference", "must be an array of tables ([[reference]])")
    references: dict[tuple[int, int], ReferenceValues] = {}
    for number, entry in enumerate(entries):
        key = f"reference[{number}]"
        table = reader.table(entry, key)
        for required in ("vendor", "device"):
            if required not in table:
                raise reader.error(f"{key}.{required}", "missing")
        vendor = reader.integer(table["vendor"], f"{key}.vendor", 0xFFFF)
        device = reader.integer(table["device"], f"{key}.device", 0xFFFF)
        if (vendor, device) in references:
            raise reader.error(key, f"a second entry for {vendor:04x}:{device:04x}")
        measurements = table.get("measurements", {})
        if not isinstance(measurements, dict):
            raise reader.error(f"{key}.measurements", "must be a table (index = [values])")
        values: dict[int, frozenset[bytes]] = {}
        for index, allowed in measurements.items():
            where = f"{key}.measurements.{index}"
            if not (index.isascii() and index.isdigit()) or not 1 <= int(index) <= 0xFE:  # int("²") fails
                raise reader.error(where, "the key must be a measurement index 1..254")
            values[int(index)] = frozenset(reader.hex_bytes(v, where)
                                           for v in reader.strings(allowed, where))
        for index, allowed in _corim_values(reader, table, key).items():
            values[index] = values.get(index, frozenset()) | allowed
        references[(vendor, device)] = ReferenceValues(vendor, device, values)
    return references


def _corim_values(reader: _Reader, table: dict[str, object], key: str) -> dict[int, frozenset[bytes]]:
    """A ``[[reference]]`` entry's CoRIM values: index -> allowed values (none without ``corim``)."""
    for name in ("corim_class", "corim_signer"):
        if name in table and "corim" not in table:
            raise reader.error(f"{key}.{name}", "goes with corim")
    if "corim" not in table:
        return {}
    files = reader.strings([table["corim"]], f"{key}.corim")
    file = reader.path.parent / files[0]
    signer = _corim_signer(reader, table, key) if "corim_signer" in table else None
    from .corim import read_corim  # CBOR and COSE load only for a policy that names a CoRIM

    try:
        classes = read_corim(file.read_bytes(), signer)
    except OSError as exc:
        raise reader.error(f"{key}.corim", f"cannot read {exc.filename}: {exc.strerror}") from exc
    except DevsecError as exc:
        raise reader.error(f"{key}.corim", f"{file}: {exc}") from exc
    if "corim_class" in table:
        wanted = reader.strings([table["corim_class"]], f"{key}.corim_class")[0]
        if wanted not in classes:
            raise reader.error(f"{key}.corim_class", f"{file} states no class {wanted!r} "
                                                     f"(it has {', '.join(sorted(classes))})")
    elif len(classes) == 1:
        wanted = next(iter(classes))
    else:
        raise reader.error(f"{key}.corim", f"{file} states several classes ({', '.join(sorted(classes))}): "
                                           f"name one with corim_class")
    return {index: reference.values for index, reference in classes[wanted].items()}


def _corim_signer(reader: _Reader, table: dict[str, object], key: str) -> PublicKey:
    where = f"{key}.corim_signer"
    file = reader.path.parent / reader.strings([table["corim_signer"]], where)[0]
    try:
        certificates = load_certificates(file.read_bytes())
    except OSError as exc:
        raise reader.error(where, f"cannot read {file}: {exc.strerror}") from exc
    except DevsecError as exc:
        raise reader.error(where, f"{file}: {exc}") from exc
    if len(certificates) != 1:
        raise reader.error(where, f"{file}: one certificate is expected, found {len(certificates)}")
    try:
        return certificates[0].public_key()
    except DevsecError as exc:
        raise reader.error(where, f"{file}: {exc}") from exc


def _tdisp(reader: _Reader, value: object) -> TdispRule | None:
    if value is None:
        return None
    table = reader.table(value, "tdisp")
    info = InterfaceInfo(0)
    if "interface_info" in table:
        for name in reader.strings(table["interface_info"], "tdisp.interface_info", tuple(_INTERFACE_INFO)):
            info |= _INTERFACE_INFO[name]
    maximum = (reader.integer(table["max_mmio_ranges"], "tdisp.max_mmio_ranges", _MAX_MMIO_RANGES)
               if "max_mmio_ranges" in table else None)
    allowed = None
    if "device_specific_info" in table:
        values = reader.strings(table["device_specific_info"], "tdisp.device_specific_info")
        for text in values:
            if _HEX_OR_EMPTY.fullmatch(text) is None:
                raise reader.error("tdisp.device_specific_info", f"{text!r} is not a hexadecimal byte string")
        allowed = frozenset(bytes.fromhex(text) for text in values)
    return TdispRule(info, maximum, allowed)


def load_policy(path: Path) -> Policy:
    """Read and check a policy file.

    Args:
        path: the TOML file; root files in it are relative to its directory.

    Returns:
        The policy.

    Raises:
        PolicyError: the file or a root file is unreadable, the TOML is
            malformed, or a key, table, type or value breaks the schema (the
            message names the file and the key); also when no root is trusted,
            since such a policy could allow no device.
    """
    path = Path(path)
    reader = _Reader(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read the policy {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from exc
    top = reader.table(document, "")
    trust = reader.table(top.get("trust", {}), "trust")
    roots, root_hashes = _roots(reader, trust), _root_hashes(reader, trust)
    if not roots and not root_hashes:
        raise reader.error("trust", "names no root (trust.roots or trust.root_hashes): "
                                    "such a policy could allow no device")
    min_version, versions, algorithms = _spdm(reader, reader.table(top.get("spdm", {}), "spdm"))
    require = reader.table(top.get("require", {}), "require")
    required = (frozenset(reader.strings(require["capabilities"], "require.capabilities", CAPABILITIES))
                if "capabilities" in require else frozenset())
    return Policy(
        source=path,
        action=reader.string(top.get("action", "connect"), "action", ACTIONS),
        roots=roots,
        root_hashes=root_hashes,
        min_version=min_version,
        versions=versions,
        algorithms=algorithms,
        required=required,
        references=_references(reader, top.get("reference", [])),
        tdisp=_tdisp(reader, top.get("tdisp")),
    )
