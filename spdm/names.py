"""The names users type and read for SPDM versions and algorithms (CLI flags, reports, JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from spdm.errors import ConfigurationError
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    DmtfValueType,
    KemAlgo,
    MeasurementHashAlgo,
    PqcAsymAlgo,
    SpdmVersion,
)

if TYPE_CHECKING:
    from spdm.messages import MeasurementBlock

__all__ = [
    "parse_value_type",
    "value_type_name",
    "AEADS",
    "ASYMS",
    "DHE_GROUPS",
    "HASHES",
    "KEMS",
    "MEASUREMENT_HASHES",
    "PQC_ASYMS",
    "SIGNING_ALGORITHMS",
    "VERSIONS",
    "capability_names",
    "measurement_dict",
    "measurement_hash_name",
    "name_of",
    "parse_aead",
    "parse_asym",
    "parse_dhe",
    "parse_hash",
    "parse_kem",
    "parse_measurement_hash",
    "parse_signing",
    "parse_version",
    "signing_name",
]

HASHES: dict[str, BaseHashAlgo] = {
    "sha256": BaseHashAlgo.SHA_256,
    "sha384": BaseHashAlgo.SHA_384,
    "sha512": BaseHashAlgo.SHA_512,
}

ASYMS: dict[str, BaseAsymAlgo] = {
    "ecdsa-p256": BaseAsymAlgo.ECDSA_P256,
    "ecdsa-p384": BaseAsymAlgo.ECDSA_P384,
    "ecdsa-p521": BaseAsymAlgo.ECDSA_P521,
    "rsassa-2048": BaseAsymAlgo.RSASSA_2048,
    "rsassa-3072": BaseAsymAlgo.RSASSA_3072,
    "rsassa-4096": BaseAsymAlgo.RSASSA_4096,
    "rsapss-2048": BaseAsymAlgo.RSAPSS_2048,
    "rsapss-3072": BaseAsymAlgo.RSAPSS_3072,
    "rsapss-4096": BaseAsymAlgo.RSAPSS_4096,
    "ed25519": BaseAsymAlgo.EDDSA_ED25519,
}
"""Ed448 is not offered: SPDM 1.2+ signs with Ed448ctx, which ``cryptography`` cannot compute."""

PQC_ASYMS: dict[str, PqcAsymAlgo] = {
    "ml-dsa-44": PqcAsymAlgo.ML_DSA_44,
    "ml-dsa-65": PqcAsymAlgo.ML_DSA_65,
    "ml-dsa-87": PqcAsymAlgo.ML_DSA_87,
}
"""SPDM 1.4's post-quantum signature algorithms (PqcAsymAlgo), spelled as ``ASYMS``."""

SIGNING_ALGORITHMS: dict[str, BaseAsymAlgo | PqcAsymAlgo] = {**ASYMS, **PQC_ASYMS}
"""Every signature algorithm by name, classic and post-quantum.

The name is how devsec persists a signature algorithm (the sysfs log's
``_asym_algorithm``, ``spdm/asym_algorithm``, a bundle's ``algorithms.signature``,
policies): BaseAsymAlgo and PqcAsymAlgo share bit values (ML-DSA-65 and RSAPSS-2048
are both 2), and a name keeps the two apart where a bare number could not.  The
classic names are the ones every earlier file spells, so those files read as before.
"""

KEMS: dict[str, KemAlgo] = {
    "ml-kem-768": KemAlgo.ML_KEM_768,
    "ml-kem-1024": KemAlgo.ML_KEM_1024,
}
"""SPDM 1.4's key encapsulation (KEM AlgStruct). ML-KEM-512 is not offered: ``cryptography`` has none."""

DHE_GROUPS: dict[str, DheGroup] = {
    "secp256r1": DheGroup.SECP_256_R1,
    "secp384r1": DheGroup.SECP_384_R1,
    "secp521r1": DheGroup.SECP_521_R1,
    "ffdhe2048": DheGroup.FFDHE_2048,
    "ffdhe3072": DheGroup.FFDHE_3072,
    "ffdhe4096": DheGroup.FFDHE_4096,
}

AEADS: dict[str, AeadSuite] = {
    "aes-128-gcm": AeadSuite.AES_128_GCM,
    "aes-256-gcm": AeadSuite.AES_256_GCM,
    "chacha20-poly1305": AeadSuite.CHACHA20_POLY1305,
}

VERSIONS: dict[str, SpdmVersion] = {v.text: v for v in SpdmVersion}

_T = TypeVar("_T")


def _lookup(table: dict[str, _T], name: str, what: str) -> _T:
    try:
        return table[name.lower()]
    except KeyError:
        raise ConfigurationError(f"unknown {what} {name!r}; choose from {', '.join(table)}") from None


def parse_hash(name: str) -> BaseHashAlgo:
    """``"sha384"`` -> BaseHashAlgo.SHA_384 (ConfigurationError otherwise)."""
    return _lookup(HASHES, name, "hash")


def parse_asym(name: str) -> BaseAsymAlgo:
    """``"ecdsa-p384"`` -> BaseAsymAlgo.ECDSA_P384 (ConfigurationError otherwise)."""
    return _lookup(ASYMS, name, "signature algorithm")


def parse_signing(name: str) -> BaseAsymAlgo | PqcAsymAlgo:
    """``"ecdsa-p384"`` or ``"ml-dsa-65"`` -> a BaseAsymAlgo or PqcAsymAlgo (ConfigurationError otherwise)."""
    return _lookup(SIGNING_ALGORITHMS, name, "signature algorithm")


def parse_kem(name: str) -> KemAlgo:
    """``"ml-kem-768"`` -> KemAlgo.ML_KEM_768 (ConfigurationError otherwise)."""
    return _lookup(KEMS, name, "KEM")


def parse_dhe(name: str) -> DheGroup:
    """``"secp384r1"`` -> DheGroup.SECP_384_R1 (ConfigurationError otherwise)."""
    return _lookup(DHE_GROUPS, name, "DHE group")


def parse_aead(name: str) -> AeadSuite:
    """``"aes-256-gcm"`` -> AeadSuite.AES_256_GCM (ConfigurationError otherwise)."""
    return _lookup(AEADS, name, "AEAD suite")


def parse_version(name: str) -> SpdmVersion:
    """``"1.2"`` -> SpdmVersion.V12 (ConfigurationError otherwise)."""
    return _lookup(VERSIONS, name, "SPDM version")


def name_of(value: int, table: dict[str, int]) -> str:
    """The user-facing name of an algorithm value (its enum name when not in the table)."""
    for name, member in table.items():
        if member == value:
            return name
    return f"0x{int(value):x}"


def signing_name(value: BaseAsymAlgo | PqcAsymAlgo) -> str:
    """The user-facing name of a signature algorithm, classic or ML-DSA (told apart by type: the
    two enums share bit values); ``0x..`` for a value without a name (0: none negotiated)."""
    if isinstance(value, PqcAsymAlgo):
        return name_of(value, dict(PQC_ASYMS))
    return name_of(value, dict(ASYMS))


def measurement_hash_name(value: MeasurementHashAlgo) -> str:
    """``sha384``, ``raw-bit-stream-only`` ... for a MeasurementHashAlgo bit."""
    if value == MeasurementHashAlgo.RAW_BIT_STREAM_ONLY:
        return "raw-bit-stream-only"
    return (value.name or f"0x{int(value):x}").lower().replace("_", "")


MEASUREMENT_HASHES: dict[str, MeasurementHashAlgo] = {
    measurement_hash_name(alg): alg for alg in MeasurementHashAlgo if alg != MeasurementHashAlgo.SM3_256
}
"""SM3 is left out: ``spdm.crypto`` has no SM3 (it cannot size or compute such a digest)."""


def capability_names(flags: CapabilityFlags) -> list[str]:
    """The names of the capability flags set in ``flags`` (``CERT_CAP``...), in bit order.

    Bits DSP0274 does not define have no name and are left out.
    """
    return [f.name for f in CapabilityFlags if f in flags and f.name]


def parse_measurement_hash(name: str) -> MeasurementHashAlgo:
    """``"sha384"`` -> MeasurementHashAlgo.SHA_384 (ConfigurationError otherwise)."""
    return _lookup(MEASUREMENT_HASHES, name, "measurement hash")


def value_type_name(kind: DmtfValueType | int) -> str:
    """``DmtfValueType.MUTABLE_FIRMWARE`` -> ``"mutable-firmware"``; unknown -> ``"0x0b"``."""
    if isinstance(kind, DmtfValueType):
        return kind.name.lower().replace("_", "-")
    return f"0x{kind:02x}"


def parse_value_type(name: str) -> int:
    """The inverse of :func:`value_type_name`.

    Raises:
        ConfigurationError: ``name`` names no DMTF measurement value type.
    """
    if name.startswith("0x"):
        try:
            return int(name, 16)
        except ValueError:
            pass
    for kind in DmtfValueType:
        if value_type_name(kind) == name:
            return kind
    raise ConfigurationError(f"{name!r} is not a DMTF measurement value type")


def measurement_dict(block: MeasurementBlock) -> dict[str, int | str]:
    """A block as JSON (``index``, ``type`` by :func:`value_type_name`, ``representation``, hex ``value``).

    The one spelling of a measurement in devsec's JSON: evidence bundles and
    ``devsec connect --json`` / ``evidence verify --json`` both use it.
    """
    return {
        "index": block.index,
        "type": value_type_name(block.kind),
        "representation": "raw" if block.raw_bit_stream else "digest",
        "value": block.value.hex(),
    }
