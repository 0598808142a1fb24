"""The one wire codec of the TSM layer: every document that crosses a process boundary.

Two boundaries carry TSM documents, and both use this module: the psp-proxy
host and its security-processor process (inside the frames of
:mod:`.psp_wire`), and a TSM service client and ``devsec tsm serve`` (one JSON
document per line).  The documents:

- the :class:`~.interface.TsmConfig` (psp-proxy: the CONFIGURE frame), every
  field but ``clock`` and ``rng``, which are each process's own;
- an :class:`~.interface.Operation` (a COMMAND frame; a service request), and
  the service's shutdown request (:data:`SHUTDOWN`);
- the answers: a progress step, the resulting device's or TDI's info, a
  failure (the error's class, message and every code field,
  :class:`spdm.errors.ErrorReport`), the service's confirmation that it stopped.

Documents are JSON objects with byte strings in hex.  Decoding is strict: a
missing or unknown key, a value of the wrong kind, an unknown algorithm,
version or state raises :class:`~spdm.errors.DecodeError` naming the document
and the path of what was wrong (``TSM configuration: requester.algorithms.
hash_algs[0]: 3 is not a BaseHashAlgo``).

A signing algorithm is written as :mod:`.algorithm_doc` says (``pqc_asym_alg`` for
ML-DSA), a device's ML-KEM as ``kem_alg``: both only when set, so a classic device's
documents are what they were, and documents written before them still decode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from enum import IntFlag
from typing import Any, Final

from spdm.config import RequesterConfig
from spdm.crypto import Certificate
from spdm.errors import (
    ConfigurationError,
    DecodeError,
    DevsecError,
    ErrorReport,
    FieldValue,
    error_from_report,
    report_error,
)
from spdm.events import SignedEvidence
from spdm.messages import MeasurementBlock
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KemAlgo,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    OpaqueDataFormat,
    PqcAsymAlgo,
    SpdmVersion,
)
from spdm.negotiation import AlgorithmPreferences
from spdm.record import record
from tdisp.messages import LockInterfaceFlags, TdiState

from .algorithm_doc import read_signing, signing_doc
from .info import DeviceInfo, LinkState, TdiInfo
from .interface import Operation, TsmConfig
from .jsondoc import (
    Malformed,
    array,
    at,
    boolean,
    decoding,
    dump,
    flags,
    hexbytes,
    member,
    named,
    number,
    obj,
    reading,
    string,
    uint,
)

__all__ = [
    "LOCAL_FIELDS",
    "SHUTDOWN",
    "Answer",
    "Failed",
    "Shutdown",
    "Stepped",
    "Stopped",
    "Succeeded",
    "decode_answer",
    "decode_config",
    "decode_error",
    "decode_info",
    "decode_operation",
    "decode_request",
    "encode_answer",
    "encode_config",
    "encode_error",
    "encode_info",
    "encode_operation",
    "encode_request",
    "operation_from",
]

LOCAL_FIELDS: Final = frozenset({"clock", "rng"})
"""TsmConfig fields that never cross: each process reads its own clock and randomness."""

_CONFIG_FORMAT: Final = "devsec-tsm-config/1"
_INFO_FORMAT: Final = "devsec-tsm-info/1"

# ------------------------------------------------------------------------------------ TsmConfig

_PREFERENCES: Final[Mapping[str, type[IntFlag]]] = {
    "hash_algs": BaseHashAlgo, "asym_algs": BaseAsymAlgo, "measurement_hash_algs": MeasurementHashAlgo,
    "dhe_groups": DheGroup, "aead_suites": AeadSuite, "req_asym_algs": BaseAsymAlgo,
    "key_schedules": KeyScheduleAlgo, "opaque_formats": OpaqueDataFormat,
    "pqc_asym_algs": PqcAsymAlgo,
    "req_pqc_asym_algs": PqcAsymAlgo,
    "kem_algs": KemAlgo,
}
"""Every AlgorithmPreferences field: the flag type of its entries."""


def _preferences_doc(prefs: AlgorithmPreferences) -> dict[str, Any]:
    return {f.name: [int(_PREFERENCES[f.name](a)) for a in getattr(prefs, f.name)] for f in fields(prefs)}


def _preferences(value: object, path: str) -> AlgorithmPreferences:
    doc = obj(value, path, tuple(_PREFERENCES))
    read: dict[str, Any] = {}
    for name, cls in _PREFERENCES.items():
        where = at(path, name)
        read[name] = tuple(member(cls, a, at(where, i)) for i, a in enumerate(array(doc[name], where)))
    return AlgorithmPreferences(**read)


def _anchors_doc(anchors: object) -> list[str]:
    if not isinstance(anchors, tuple):
        raise ConfigurationError("a TSM configuration's trust anchors are certificates")  # TsmConfig insists
    return [c.der.hex() for c in anchors]


def _anchors(value: object, path: str) -> tuple[Certificate, ...]:
    found = []
    for i, item in enumerate(array(value, path)):
        try:
            found.append(Certificate(hexbytes(item, at(path, i))))
        except DecodeError as exc:
            raise Malformed(at(path, i), str(exc)) from exc
    return tuple(found)


_Field = tuple[Callable[[Any], Any], Callable[[object, str], Any]]

_REQUESTER: Final[Mapping[str, _Field]] = {
    "versions": (lambda v: [int(x) for x in v],
                 lambda v, p: tuple(member(SpdmVersion, x, at(p, i)) for i, x in enumerate(array(v, p)))),
    "capabilities": (int, lambda v, p: flags(CapabilityFlags, v, p)),
    "ct_exponent": (int, lambda v, p: uint(v, p, bits=8)),
    "algorithms": (_preferences_doc, _preferences),
    "data_transfer_size": (int, uint),
    "max_spdm_msg_size": (int, uint),
    "trust_anchors": (_anchors_doc, _anchors),
    "busy_retries": (int, uint),
    "busy_retry_delay": (float, number),
    "max_not_ready_polls": (int, uint),
    "certificate_portion": (int, lambda v, p: uint(v, p, bits=16)),
    "multi_key_conn": (bool, boolean),
    "mel_specification": (int, lambda v, p: uint(v, p, bits=8)),
    "finish_opaque_data": (bytes.hex, hexbytes),
}
"""Every RequesterConfig field: how it is written and read."""

_TSM: Final[Mapping[str, _Field]] = {
    "slot_id": (int, lambda v, p: uint(v, p, bits=8)),
    "stream_id": (int, lambda v, p: uint(v, p, bits=8)),
    "lock_flags": (int, lambda v, p: flags(LockInterfaceFlags, v, p)),
}
"""Every TsmConfig field but ``requester`` and :data:`LOCAL_FIELDS`."""


def encode_config(config: TsmConfig) -> bytes:
    """The document of ``config``: every field that can cross (all but :data:`LOCAL_FIELDS`).

    A field missing from this codec's tables fails here (KeyError), so a new
    configuration field cannot be dropped silently on its way to the TSM process.
    """
    requester = {f.name: _REQUESTER[f.name][0](getattr(config.requester, f.name))
                 for f in fields(config.requester)}
    doc: dict[str, Any] = {"format": _CONFIG_FORMAT, "requester": requester}
    for f in fields(config):
        if f.name not in LOCAL_FIELDS and f.name != "requester":
            doc[f.name] = _TSM[f.name][0](getattr(config, f.name))
    return dump(doc)


def _config(value: object) -> TsmConfig:
    doc = obj(value, "", ("format", "requester", *_TSM))
    if doc["format"] != _CONFIG_FORMAT:
        raise Malformed("format", f"{doc['format']!r}, expected {_CONFIG_FORMAT!r}")
    requester = obj(doc["requester"], "requester", tuple(_REQUESTER))
    return TsmConfig(
        RequesterConfig(**{name: read(requester[name], at("requester", name))
                           for name, (_write, read) in _REQUESTER.items()}),
        **{name: read(doc[name], name) for name, (_write, read) in _TSM.items()})


def decode_config(data: bytes) -> TsmConfig:
    """Parse what :func:`encode_config` wrote; ``clock`` and ``rng`` are this process's own (the defaults).

    Raises:
        DecodeError: malformed (naming what is wrong).
        ConfigurationError: well-formed, but a TSM cannot work with it (no trust anchor).
    """
    config: TsmConfig = decoding("TSM configuration", data, _config)
    return config


# ------------------------------------------------------------------------------------ requests


@record(frozen=True, slots=True)
class Shutdown:
    """The TSM service's request to stop."""


SHUTDOWN: Final = Shutdown()
"""The one :class:`Shutdown` value."""

_OPERATION_KEYS: Final = ("tdi", "nonce", "target", "backend")


def _operation_doc(operation: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {"op": operation.op, "bdf": operation.bdf}
    for key in _OPERATION_KEYS:
        value = getattr(operation, key)
        if value is not None:
            doc[key] = value.hex() if isinstance(value, bytes) else value
    return doc


def _operation(value: object) -> Operation:
    doc = obj(value, "", ("op", "bdf"), _OPERATION_KEYS)
    optional: dict[str, Any] = {k: string(doc[k], k) for k in ("tdi", "target", "backend") if k in doc}
    if "nonce" in doc:
        optional["nonce"] = hexbytes(doc["nonce"], "nonce")
    return Operation(string(doc["op"], "op"), string(doc["bdf"], "bdf"), **optional)


def encode_operation(operation: Operation) -> bytes:
    """The document of ``operation`` (fields that are None are left out)."""
    return dump(_operation_doc(operation))


def decode_operation(data: bytes) -> Operation:
    """Parse what :func:`encode_operation` wrote.

    Raises:
        DecodeError: malformed, or not a valid operation (see :class:`~.interface.Operation`).
    """
    operation: Operation = decoding("TSM command", data, _operation)
    return operation


def operation_from(doc: Mapping[str, object]) -> Operation:
    """The operation a request document already parsed from JSON names (an operator's command line's).

    Raises:
        DecodeError: as :func:`decode_operation`.
    """
    operation: Operation = reading("TSM command", dict(doc), _operation)
    return operation


def encode_request(request: Operation | Shutdown) -> bytes:
    """A TSM service request: an operation, or :data:`SHUTDOWN`."""
    return dump({"op": "shutdown"}) if isinstance(request, Shutdown) else encode_operation(request)


def decode_request(data: bytes) -> Operation | Shutdown:
    """Parse what :func:`encode_request` wrote.

    Raises:
        DecodeError: as :func:`decode_operation`.
    """
    def read(value: object) -> Operation | Shutdown:
        if isinstance(value, dict) and value.get("op") == "shutdown":
            obj(value, "", ("op",))
            return SHUTDOWN
        return _operation(value)

    request: Operation | Shutdown = decoding("TSM request", data, read)
    return request


# ------------------------------------------------------------------------------------ info

def _signature_doc(s: SignedEvidence) -> dict[str, Any]:
    return {
        "context": s.context, "version": int(s.version), "hash_alg": int(s.hash_alg),
        **signing_doc(s.asym_alg), "slot_id": s.slot_id, "transcript": s.transcript.hex(),
        "signature": s.signature.hex(), "requester_nonce": s.requester_nonce.hex(),
        "responder_nonce": s.responder_nonce.hex(), "combined_prefix": s.combined_prefix.hex(),
    }


def _tdi_doc(t: TdiInfo) -> dict[str, Any]:
    return {"bdf": t.bdf, "dsm": t.dsm, "interface_id": t.interface_id, "state": t.state.name,
            "report": t.report.hex(), "mmio_ranges": t.mmio_ranges}


def _device_doc(d: DeviceInfo) -> dict[str, Any]:
    doc = {
        "bdf": d.bdf, "tsm": d.tsm, "state": d.state.value, "version": int(d.version),
        "hash_alg": int(d.hash_alg), **signing_doc(d.asym_alg),
        "measurement_hash_alg": int(d.measurement_hash_alg), "dhe_group": int(d.dhe_group),
        "aead_suite": int(d.aead_suite), "capabilities": int(d.capabilities),
        "doe_features": [list(f) for f in d.doe_features],
        "certificates": {str(slot): der.hex() for slot, der in d.certificates.items()},
        "signatures": [_signature_doc(s) for s in d.signatures],
        "measurements": [{"index": m.index, "value_type": m.value_type, "value": m.value.hex()}
                         for m in d.measurements],
        "streams": list(d.streams),
        "tdis": [_tdi_doc(t) for t in d.tdis],
    }
    if d.mel:  # optional: a document without it is the same as before the MEL existed
        doc["mel"] = d.mel.hex()
    if d.kem_alg:  # optional as well: only an SPDM 1.4 device's sessions have a KEM
        doc["kem_alg"] = int(d.kem_alg)
    return doc


def _info_doc(info: DeviceInfo | TdiInfo) -> dict[str, Any]:
    if isinstance(info, DeviceInfo):
        return {"format": _INFO_FORMAT, "device": _device_doc(info)}
    return {"format": _INFO_FORMAT, "tdi": _tdi_doc(info)}


def encode_info(info: DeviceInfo | TdiInfo) -> bytes:
    """The document of a device's or a TDI's info (UTF-8 JSON): what ``devsec tsm ... --json`` prints."""
    return dump(_info_doc(info))


def _signature(value: object, path: str) -> SignedEvidence:
    doc = obj(value, path, ("context", "version", "hash_alg", "asym_alg", "slot_id", "transcript",
                                "signature", "requester_nonce", "responder_nonce", "combined_prefix"),
              ("pqc_asym_alg",))
    return SignedEvidence(
        context=string(doc["context"], at(path, "context")),
        version=member(SpdmVersion, doc["version"], at(path, "version")),
        hash_alg=member(BaseHashAlgo, doc["hash_alg"], at(path, "hash_alg")),
        asym_alg=read_signing(doc, path, member),
        slot_id=uint(doc["slot_id"], at(path, "slot_id"), bits=8),
        **{k: hexbytes(doc[k], at(path, k)) for k in ("transcript", "signature", "requester_nonce",
                                                    "responder_nonce", "combined_prefix")},
    )


def _tdi(value: object, path: str) -> TdiInfo:
    doc = obj(value, path, ("bdf", "dsm", "interface_id", "state", "report", "mmio_ranges"))
    return TdiInfo(bdf=string(doc["bdf"], at(path, "bdf")), dsm=string(doc["dsm"], at(path, "dsm")),
                   interface_id=uint(doc["interface_id"], at(path, "interface_id")),
                   state=named(TdiState, doc["state"], at(path, "state")),
                   report=hexbytes(doc["report"], at(path, "report")),
                   mmio_ranges=uint(doc["mmio_ranges"], at(path, "mmio_ranges")))


def _measurement(value: object, path: str) -> MeasurementBlock:
    doc = obj(value, path, ("index", "value_type", "value"))
    return MeasurementBlock(index=uint(doc["index"], at(path, "index"), bits=8),
                            value_type=uint(doc["value_type"], at(path, "value_type"), bits=8),
                            value=hexbytes(doc["value"], at(path, "value")))


def _feature(value: object, path: str) -> tuple[int, int]:
    pair = array(value, path)
    if len(pair) != 2:
        raise Malformed(path, f"expected [vendor, type], got {pair!r}")
    return uint(pair[0], at(path, 0), bits=16), uint(pair[1], at(path, 1), bits=8)


def _slot(key: str, path: str) -> int:
    if key not in {str(slot) for slot in range(8)}:  # not isdigit(): "²" is a digit int() refuses
        raise Malformed(path, f"{key!r} is not a slot number")
    return int(key)


def _device(value: object, path: str) -> DeviceInfo:
    doc = obj(value, path, ("bdf", "tsm", "state", "version", "hash_alg", "asym_alg",
                                "measurement_hash_alg", "dhe_group", "aead_suite", "capabilities",
                                "doe_features", "certificates", "signatures", "measurements", "streams",
                                "tdis"), ("mel", "pqc_asym_alg", "kem_alg"))

    def each(key: str, read: Callable[[object, str], Any]) -> tuple[Any, ...]:
        items = array(doc[key], at(path, key))
        return tuple(read(item, at(at(path, key), i)) for i, item in enumerate(items))

    state = string(doc["state"], at(path, "state"))
    if state not in {s.value for s in LinkState}:
        raise Malformed(at(path, "state"), f"{state!r} is not a LinkState")
    certificates = doc["certificates"]
    if not isinstance(certificates, dict):
        raise Malformed(at(path, "certificates"), "expected an object")
    return DeviceInfo(
        bdf=string(doc["bdf"], at(path, "bdf")), tsm=string(doc["tsm"], at(path, "tsm")),
        state=LinkState(state), version=member(SpdmVersion, doc["version"], at(path, "version")),
        hash_alg=flags(BaseHashAlgo, doc["hash_alg"], at(path, "hash_alg")),
        asym_alg=read_signing(doc, path, flags),
        measurement_hash_alg=flags(MeasurementHashAlgo, doc["measurement_hash_alg"],
                                    at(path, "measurement_hash_alg")),
        dhe_group=flags(DheGroup, doc["dhe_group"], at(path, "dhe_group")),
        aead_suite=flags(AeadSuite, doc["aead_suite"], at(path, "aead_suite")),
        capabilities=flags(CapabilityFlags, doc["capabilities"], at(path, "capabilities")),
        doe_features=each("doe_features", _feature),
        certificates={_slot(k, at(path, "certificates")): hexbytes(v, at(at(path, "certificates"), k))
                      for k, v in certificates.items()},
        signatures=each("signatures", _signature),
        measurements=each("measurements", _measurement),
        streams=each("streams", lambda v, p: uint(v, p, bits=8)),
        tdis=each("tdis", _tdi),
        mel=hexbytes(doc["mel"], at(path, "mel")) if "mel" in doc else b"",
        kem_alg=flags(KemAlgo, doc["kem_alg"], at(path, "kem_alg")) if "kem_alg" in doc else KemAlgo(0),
    )


def _info(value: object) -> DeviceInfo | TdiInfo:
    doc = obj(value, "", ("format",), ("device", "tdi"))
    if doc["format"] != _INFO_FORMAT:
        raise Malformed("format", f"{doc['format']!r}, expected {_INFO_FORMAT!r}")
    if ("device" in doc) == ("tdi" in doc):
        raise Malformed("", "expected exactly one of device, tdi")
    return _device(doc["device"], "device") if "device" in doc else _tdi(doc["tdi"], "tdi")


def decode_info(data: bytes) -> DeviceInfo | TdiInfo:
    """Parse what :func:`encode_info` wrote.

    Raises:
        DecodeError: malformed (naming what is wrong).
    """
    info: DeviceInfo | TdiInfo = decoding("TSM info", data, _info)
    return info


# ------------------------------------------------------------------------------------ errors


def _field_doc(value: FieldValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    return {"str": value}


def _field(value: object, path: str) -> FieldValue:
    doc = obj(value, path, (), ("bool", "int", "bytes", "str"))
    if len(doc) != 1:
        raise Malformed(path, "expected exactly one of bool, int, bytes, str")
    [(kind, item)] = doc.items()
    if kind == "bool":
        return boolean(item, at(path, kind))
    if kind == "int":
        if not isinstance(item, int) or isinstance(item, bool):
            raise Malformed(at(path, kind), f"expected an integer, got {item!r}")
        return item
    if kind == "bytes":
        return hexbytes(item, at(path, kind))
    return string(item, at(path, kind))


def _error_doc(report: ErrorReport) -> dict[str, Any]:
    return {"kind": report.kind, "message": report.message,
            "fields": {name: _field_doc(value) for name, value in report.fields}}


def _error(value: object, path: str = "") -> ErrorReport:
    doc = obj(value, path, ("kind", "message", "fields"))
    found = doc["fields"]
    if not isinstance(found, dict):
        raise Malformed(at(path, "fields"), "expected an object")
    return ErrorReport(string(doc["kind"], at(path, "kind")), string(doc["message"], at(path, "message")),
                       tuple(sorted((name, _field(v, at(at(path, "fields"), name)))
                                    for name, v in found.items())))


def encode_error(error: BaseException | ErrorReport) -> bytes:
    """The document of a failure: the error's class, message and every code field (:func:`report_error`)."""
    return dump(_error_doc(error if isinstance(error, ErrorReport) else report_error(error)))


def decode_error(data: bytes) -> ErrorReport:
    """Parse what :func:`encode_error` wrote; :func:`spdm.errors.error_from_report` rebuilds the error.

    Raises:
        DecodeError: malformed (naming what is wrong).
    """
    report: ErrorReport = decoding("TSM failure", data, _error)
    return report


# ------------------------------------------------------------------------------------ answers


@record(frozen=True, slots=True)
class Stepped:
    """An operation in flight reports the step it is at."""

    step: str


@record(frozen=True, slots=True)
class Succeeded:
    """An operation ended; its device's or TDI's info."""

    info: DeviceInfo | TdiInfo


@record(frozen=True, slots=True)
class Failed:
    """An operation (or the TSM's start) failed."""

    error: ErrorReport

    @classmethod
    def of(cls, error: BaseException) -> Failed:
        """The failure reporting ``error``."""
        return cls(report_error(error))

    def exception(self) -> DevsecError:
        """The error reported, rebuilt: the same class, message and fields (see :func:`error_from_report`)."""
        return error_from_report(self.error)


@record(frozen=True, slots=True)
class Stopped:
    """The TSM service stopped; it ran ``backend``."""

    backend: str


Answer = Stepped | Succeeded | Failed | Stopped
"""What a TSM answers an operation with: steps, then a result or a failure (or, to a shutdown, Stopped)."""


def encode_answer(answer: Answer) -> bytes:
    """The document of one answer: ``{"progress": step}``, ``{"result": info}``, ``{"error": failure}``
    or ``{"stopped": backend}``."""
    doc: dict[str, Any]
    match answer:
        case Stepped(step):
            doc = {"progress": step}
        case Succeeded(info):
            doc = {"result": _info_doc(info)}
        case Failed(error):
            doc = {"error": _error_doc(error)}
        case Stopped(backend):
            doc = {"stopped": backend}
    return dump(doc)


def _answer(value: object) -> Answer:
    doc = obj(value, "", (), ("progress", "result", "error", "stopped"))
    if len(doc) != 1:
        raise Malformed("", "expected exactly one of progress, result, error, stopped")
    [(kind, item)] = doc.items()
    if kind == "progress":
        return Stepped(string(item, kind))
    if kind == "result":
        return Succeeded(_info(item))
    if kind == "error":
        return Failed(_error(item, kind))
    return Stopped(string(item, kind))


def decode_answer(data: bytes) -> Answer:
    """Parse what :func:`encode_answer` wrote.

    Raises:
        DecodeError: malformed (naming what is wrong).
    """
    answer: Answer = decoding("TSM answer", data, _answer)
    return answer
