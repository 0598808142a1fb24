"""The TSM documents (:mod:`tsm.wire`): configuration, operations, answers, failures.

Every field of a :class:`TsmConfig` but the clock and the randomness crosses
(property-based over every field, and the document's keys are the
dataclasses' fields, so a new field cannot be forgotten); operations and
answers round-trip; a failure comes back as the same exception class with
the same message and code fields; and anything malformed is a DecodeError
that names what was wrong.  (Device and TDI info: ``test_info``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields, replace
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ide_km.errors import InvalidFieldError, UnsupportedObjectError
from spdm.config import RequesterConfig
from spdm.crypto import Certificate
from spdm.device import DeviceModel
from spdm.errors import (
    ConfigurationError,
    DecodeError,
    DevsecError,
    ErrorReport,
    LocalProtocolError,
    NegotiationError,
    RemoteErrorResponse,
    RemoteProtocolError,
    SpdmErrorCode,
    TransportTimeout,
    VerificationError,
    error_from_report,
    report_error,
)
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    OpaqueDataFormat,
    SpdmVersion,
)
from spdm.negotiation import AlgorithmPreferences
from tdisp.errors import TdispErrorCode, TdispErrorResponse
from tdisp.messages import LockInterfaceFlags, TdiState
from tsm import TdiInfo, TsmConfig
from tsm.interface import OPERATIONS, TDI_OPERATIONS, Operation
from tsm.wire import (
    LOCAL_FIELDS,
    SHUTDOWN,
    Answer,
    Failed,
    Stepped,
    Stopped,
    Succeeded,
    decode_answer,
    decode_config,
    decode_error,
    decode_operation,
    decode_request,
    encode_answer,
    encode_config,
    encode_error,
    encode_operation,
    encode_request,
    operation_from,
)

from .helpers import model, tsm_config

# ------------------------------------------------------------------------------------ TsmConfig


@cache
def anchors() -> tuple[Certificate, ...]:
    """Three distinct roots to draw trust anchors from."""
    return (model().root_certificate(), *(DeviceModel.generate(BaseAsymAlgo.ECDSA_P256).root_certificate()
                                          for _ in range(2)))


def members(cls: Any) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(st.sampled_from(list(cls)), max_size=len(list(cls))).map(tuple)


def u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << bits) - 1)


preferences = st.builds(
    AlgorithmPreferences, hash_algs=members(BaseHashAlgo), asym_algs=members(BaseAsymAlgo),
    measurement_hash_algs=members(MeasurementHashAlgo), dhe_groups=members(DheGroup),
    aead_suites=members(AeadSuite), req_asym_algs=members(BaseAsymAlgo),
    key_schedules=members(KeyScheduleAlgo), opaque_formats=members(OpaqueDataFormat))

requesters = st.builds(
    RequesterConfig, versions=members(SpdmVersion), capabilities=u(32).map(CapabilityFlags),
    ct_exponent=u(8), algorithms=preferences, data_transfer_size=u(32), max_spdm_msg_size=u(32),
    trust_anchors=st.integers(1, 3).flatmap(lambda n: st.permutations(range(3)).map(
        lambda order: tuple(anchors()[i] for i in order[:n]))),
    busy_retries=u(32), busy_retry_delay=st.floats(0, 1e6), max_not_ready_polls=u(32),
    certificate_portion=u(16), multi_key_conn=st.booleans(), mel_specification=u(8),
    finish_opaque_data=st.binary(max_size=64))

configs = st.builds(TsmConfig, requester=requesters, slot_id=u(8), stream_id=u(8),
                    lock_flags=u(16).map(LockInterfaceFlags))


@settings(max_examples=150, deadline=None)
@given(configs)
def test_every_config_field_round_trips(config: TsmConfig) -> None:
    decoded = decode_config(encode_config(config))
    assert decoded == config  # the clock and rng are the defaults on both sides
    assert decoded.requester.algorithms == config.requester.algorithms


def test_the_document_holds_every_field_but_the_local_ones() -> None:
    """A field added to RequesterConfig, AlgorithmPreferences or TsmConfig must show up here."""
    doc = json.loads(encode_config(tsm_config()))
    assert set(doc) == {"format"} | {f.name for f in fields(TsmConfig)} - LOCAL_FIELDS
    assert set(doc["requester"]) == {f.name for f in fields(RequesterConfig)}
    assert set(doc["requester"]["algorithms"]) == {f.name for f in fields(AlgorithmPreferences)}
    assert LOCAL_FIELDS == {"clock", "rng"}


def test_a_sha256_only_config_crosses_as_such() -> None:
    only = AlgorithmPreferences(hash_algs=(BaseHashAlgo.SHA_256,),
                                measurement_hash_algs=(MeasurementHashAlgo.SHA_256,))
    config = TsmConfig(replace(tsm_config().requester, algorithms=only))
    assert decode_config(encode_config(config)).requester.algorithms.hash_algs == (BaseHashAlgo.SHA_256,)


def config_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(encode_config(tsm_config()))
    change(doc)
    return json.dumps(doc).encode()


def set_at(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


@pytest.mark.parametrize(("change", "message"), [
    (set_at(("requester", "algorithms", "hash_algs", 0), 3), "requester.algorithms.hash_algs[0]: 3 is not a "
                                                             "BaseHashAlgo"),
    (set_at(("requester", "algorithms", "hash_algs"), "SHA_256"),
     "requester.algorithms.hash_algs: expected a list"),
    (set_at(("requester", "versions", 1), 0x99), "requester.versions[1]: 153 is not a SpdmVersion"),
    (set_at(("requester", "ct_exponent"), 256), "requester.ct_exponent: expected an unsigned 8-bit"),
    (set_at(("requester", "busy_retries"), True), "requester.busy_retries: expected an unsigned 32-bit"),
    (set_at(("requester", "busy_retry_delay"), -1), "requester.busy_retry_delay: expected a non-negative"),
    (set_at(("requester", "multi_key_conn"), 0), "requester.multi_key_conn: expected true or false"),
    (set_at(("requester", "trust_anchors", 0), "zz"), "requester.trust_anchors[0]: not hex"),
    (set_at(("requester", "trust_anchors", 0), "3000"), "requester.trust_anchors[0]: "),
    (set_at(("slot_id",), None), "slot_id: expected an unsigned 8-bit integer, got None"),
    (set_at(("format",), "devsec-tsm-config/0"), "format: 'devsec-tsm-config/0'"),
    (set_at(("requester", "extra"), 1), "requester: unknown extra"),
    (drop("requester", "mel_specification"), "requester: missing mel_specification"),
    (drop("lock_flags"), "missing lock_flags"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_malformed_config_names_what_is_wrong(change: Callable[[dict[str, Any]], None],
                                                message: str) -> None:
    with pytest.raises(DecodeError, match="malformed TSM configuration") as raised:
        decode_config(config_with(change))
    assert message in str(raised.value)


@pytest.mark.parametrize("data", [b"{", b"[]", b"null", "\"é\"".encode("latin-1")])
def test_a_config_that_is_no_object_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="malformed TSM configuration"):
        decode_config(data)


def test_a_config_without_anchors_decodes_to_the_configuration_error_tsm_config_raises() -> None:
    with pytest.raises(ConfigurationError, match="trust anchor"):
        decode_config(config_with(set_at(("requester", "trust_anchors"), [])))


# ------------------------------------------------------------------------------------ operations

DSM, TDI = "0000:01:00.0", "0000:01:00.3"
NONCE = bytes(range(32))


def every_operation() -> list[Operation]:
    found = [Operation("connect", DSM), Operation("connect", DSM, target="tcp://localhost:2323",
                                                  backend="psp-proxy"),
             Operation("disconnect", DSM), Operation("info", DSM), Operation("info", DSM, TDI),
             Operation("refresh_evidence", DSM, nonce=NONCE)]
    found += [Operation(op, DSM, TDI) for op in TDI_OPERATIONS]
    assert {o.op for o in found} == set(OPERATIONS)
    return found


@pytest.mark.parametrize("operation", every_operation(), ids=str)
def test_every_operation_round_trips(operation: Operation) -> None:
    assert decode_operation(encode_operation(operation)) == operation
    assert decode_request(encode_request(operation)) == operation
    assert operation_from(json.loads(encode_operation(operation))) == operation


def test_the_shutdown_request_round_trips_and_is_no_operation() -> None:
    assert decode_request(encode_request(SHUTDOWN)) is SHUTDOWN
    with pytest.raises(DecodeError, match="missing bdf"):
        decode_operation(encode_request(SHUTDOWN))
    with pytest.raises(DecodeError, match="unknown nonce"):
        decode_request(b'{"op": "shutdown", "nonce": "00"}')


@pytest.mark.parametrize(("doc", "message"), [
    ({"op": "reboot", "bdf": DSM}, "unknown TSM command 'reboot'"),
    ({"op": "bind", "bdf": DSM}, "unknown TSM command 'bind' without the TDI"),
    ({"op": "refresh_evidence", "bdf": DSM}, "refresh_evidence only, and it needs one"),
    ({"op": "info", "bdf": DSM, "nonce": "00"}, "refresh_evidence only"),
    ({"op": "refresh_evidence", "bdf": DSM, "nonce": "0g"}, "nonce: not hex"),
    ({"op": "info", "bdf": "01:00.0"}, "not a PCI address"),
    ({"op": "info", "bdf": DSM, "tdi": 3}, "tdi: expected a string"),
    ({"op": "info"}, "missing bdf"),
    ({"op": "info", "bdf": DSM, "when": "now"}, "unknown when"),
])
def test_a_malformed_operation_names_what_is_wrong(doc: dict[str, object], message: str) -> None:
    with pytest.raises(DecodeError, match="malformed TSM command") as raised:
        decode_operation(json.dumps(doc).encode())
    assert message in str(raised.value)
    with pytest.raises(DecodeError):
        operation_from(doc)


# ------------------------------------------------------------------------------------ failures


def errors() -> list[BaseException]:
    """One of each kind of error a TSM raises, with every code field it can carry set."""
    return [
        LocalProtocolError("the device is not connected"),
        RemoteProtocolError("bad answer", error_code=SpdmErrorCode.UNEXPECTED_REQUEST, error_data=0x81,
                            extended_data=b"\x01\x02"),
        DecodeError("malformed CERTIFICATE"),
        RemoteErrorResponse("the device answered 0x83 with ERROR Busy", code=SpdmErrorCode.BUSY, data=7),
        TdispErrorResponse("LOCK_INTERFACE for TDI 0x00000100 refused",
                           TdispErrorCode.INVALID_INTERFACE_STATE, data=2, extended=b"\xaa"),
        TdispErrorResponse("vendor says no", 0x4242),  # a code TDISP does not define
        UnsupportedObjectError("ObjectID 7"),
        InvalidFieldError("no stream 9"),
        VerificationError("the chain leads to no trusted root"),
        NegotiationError("no common hash"),
        TransportTimeout("DOE mailbox at 0x100: no response within 1.0 s"),
        ConfigurationError("a TSM needs at least one trust anchor"),
    ]


def fields_of(error: BaseException) -> dict[str, object]:
    return dict(report_error(error).fields)


@pytest.mark.parametrize("error", errors(), ids=lambda e: type(e).__name__)
def test_a_failure_comes_back_as_the_same_error_with_every_code(error: DevsecError) -> None:
    back = error_from_report(decode_error(encode_error(error)))
    assert type(back) is type(error)
    assert str(back) == str(error) and back.args == error.args
    assert fields_of(back) == fields_of(error)
    for name in ("error_code", "error_data", "extended_data", "code", "data", "tdisp_code", "tdisp_data",
                 "tdisp_extended"):
        assert getattr(back, name, None) == getattr(error, name, None), name
    assert decode_answer(encode_answer(Failed.of(error))) == Failed(report_error(error))


def test_the_codes_really_are_in_the_report() -> None:
    refused = TdispErrorResponse("refused", TdispErrorCode.INVALID_NONCE, data=1, extended=b"\x09")
    report = report_error(refused)
    assert report.kind == "tdisp.errors.TdispErrorResponse"
    assert dict(report.fields) == {"error_code": SpdmErrorCode.INVALID_REQUEST, "error_data": 0,
                                   "extended_data": b"", "tdisp_code": TdispErrorCode.INVALID_NONCE,
                                   "tdisp_data": 1, "tdisp_extended": b"\x09"}
    back = error_from_report(report)
    assert isinstance(back, TdispErrorResponse) and isinstance(back.error_code, SpdmErrorCode)


def test_an_unknown_kind_arrives_as_a_remote_protocol_error_naming_it() -> None:
    bug = error_from_report(decode_error(encode_error(KeyError("op"))))
    assert type(bug) is RemoteProtocolError and str(bug) == "builtins.KeyError: 'op'"
    gone = error_from_report(ErrorReport("vendor.errors.PspFault", "fault 7", (("code", 7),)))
    assert type(gone) is RemoteProtocolError and str(gone) == "vendor.errors.PspFault: fault 7"
    assert getattr(gone, "code") == 7  # noqa: B009 - not an attribute RemoteProtocolError declares


@pytest.mark.parametrize(("doc", "message"), [
    ({"kind": "spdm.errors.DecodeError", "message": "x"}, "missing fields"),
    ({"kind": "spdm.errors.DecodeError", "message": 3, "fields": {}}, "message: expected a string"),
    ({"kind": "k", "message": "m", "fields": {"code": {"int": 1, "str": "1"}}}, "fields.code: expected "
                                                                                "exactly one"),
    ({"kind": "k", "message": "m", "fields": {"code": {"float": 1.5}}}, "fields.code: unknown float"),
    ({"kind": "k", "message": "m", "fields": {"data": {"bytes": "xyz"}}}, "fields.data.bytes: not hex"),
    ({"kind": "k", "message": "m", "fields": []}, "fields: expected an object"),
])
def test_a_malformed_failure_names_what_is_wrong(doc: dict[str, object], message: str) -> None:
    with pytest.raises(DecodeError, match="malformed TSM failure") as raised:
        decode_error(json.dumps(doc).encode())
    assert message in str(raised.value)


@pytest.mark.parametrize("name", ["_secret", "args", "with_traceback", "not an identifier"])
def test_a_field_that_would_shadow_an_exception_attribute_is_refused(name: str) -> None:
    with pytest.raises(DecodeError, match="carries a field named"):
        error_from_report(ErrorReport("spdm.errors.DecodeError", "m", ((name, 1),)))


# ------------------------------------------------------------------------------------ answers


@pytest.mark.parametrize("answer", [
    Stepped("SPDM: KEY_EXCHANGE, FINISH"),
    Succeeded(TdiInfo(TDI, DSM, 0x0103, TdiState.CONFIG_LOCKED, b"\x01\x02", 2)),
    Failed.of(TransportTimeout("no response")),
    Stopped("psp-proxy"),
], ids=lambda a: type(a).__name__)
def test_every_answer_round_trips(answer: Answer) -> None:
    assert decode_answer(encode_answer(answer)) == answer


@pytest.mark.parametrize(("data", "message"), [
    (b'{"progress": "x", "stopped": "native"}', "expected exactly one"),
    (b"{}", "expected exactly one"),
    (b'{"progress": 1}', "progress: expected a string"),
    (b'{"result": {"format": "devsec-tsm-info/1"}}', "expected exactly one of device, tdi"),
    (b'{"error": {"kind": "k"}}', "error: missing message, fields"),
    (b'{"done": true}', "unknown done"),
])
def test_a_malformed_answer_names_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match="malformed TSM answer") as raised:
        decode_answer(data)
    assert message in str(raised.value)
