"""``devsec dump`` follows captures of devsec's own requester and device under every algorithm they share.

Each case records a real conversation (tests/devsec/recording.py: VCA,
certificate, CHALLENGE, signed measurements, a KEY_EXCHANGE session --
mutually authenticated when the requester has a key -- and a PSK session)
and dumps it: every record must decode, every signature verify and every
secured record decrypt.  The device lists every version and the requester
offers only the case's, so the follower must take the version and every
algorithm from the capture, not from devsec's own preferences.

The default cases vary one dimension at a time (every version, every hash,
every asym as responder and requester key, every DHE group x AEAD suite,
the session options); RSA-3072/4096 keys take seconds to generate, so those
asyms and the crossed matrices are marked slow.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from devsec.dump import dump
from spdm.capture import read_capture
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    CapabilityFlags,
    DheGroup,
    RequestCode,
    SpdmVersion,
)
from spdm.transport.doe import DataObjectType, decode_data_object
from tests.devsec.recording import (
    MEASUREMENT_HASH,
    NOW,
    SIGNING_ASYMS,
    Case,
    Recording,
    record,
    recording_dhe_secrets,
)

F = CapabilityFlags
A = BaseAsymAlgo
SLOW_ASYMS = frozenset({A.RSASSA_3072, A.RSAPSS_3072, A.RSASSA_4096, A.RSAPSS_4096})


@pytest.fixture
def dhe_secrets(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return recording_dhe_secrets(monkeypatch)


def assert_dumped_completely(case: Case, recording: Recording) -> None:
    """Every record decodes, every signature verifies, every secured record decrypts."""
    lines = dump(recording.pcap, now=NOW, secrets=recording.secrets)
    records = read_capture(recording.pcap)
    secured = sum(decode_data_object(r.data).object_type == DataObjectType.SECURED_SPDM for r in records)
    problems = [line for line in lines
                if "undecodable" in line or "not decoded" in line or "<encrypted>" in line
                or "FAILED" in line or line.startswith("followed the conversation up to")]
    assert not problems, "\n".join(lines)
    assert sum(line[:1].isdigit() for line in lines) == len(records)
    assert f"secured records decrypted: {secured}" in lines
    assert lines[-1] == f"signatures: {case.expected_signatures()} verified, 0 failed", "\n".join(lines)
    assert (secured > 0) == case.sessions


def _param(case: Case) -> object:
    slow = {case.asym, case.req_asym} & SLOW_ASYMS
    return pytest.param(case, id=str(case), marks=(pytest.mark.slow,) if slow else ())


VERSIONS = [Case(version=v) for v in SpdmVersion]
HASHES = [Case(hash_alg=h, asym=A.ECDSA_P256) for h in MEASUREMENT_HASH]
ASYMS = [Case(version=SpdmVersion.V12, asym=a, req_asym=a) for a in SIGNING_ASYMS]
DHE_AEAD = [Case(dhe=d, aead=e, req_asym=None) for d in DheGroup if d != DheGroup.SM2_P256
            for e in AeadSuite if e != AeadSuite.SM4_GCM]
OPTIONS = [
    Case(caps=F.PSK_CAP_WITH_CONTEXT | F.HANDSHAKE_IN_THE_CLEAR_CAP),
    Case(caps=F.PSK_CAP, req_asym=None),  # PSK without context: no PSK_FINISH
    Case(without=F.ENCRYPT_CAP),  # MAC-only sessions
    Case(version=SpdmVersion.V11, req_asym=A.RSAPSS_2048, dhe=DheGroup.FFDHE_2048,
         aead=AeadSuite.CHACHA20_POLY1305),
    # The device answers these first with ResponseNotReady; the requester polls (RESPOND_IF_READY).
    Case(not_ready=frozenset({RequestCode.CHALLENGE, RequestCode.GET_MEASUREMENTS,
                              RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE})),
]


@pytest.mark.parametrize("case", [_param(c) for c in VERSIONS + HASHES + ASYMS + DHE_AEAD + OPTIONS])
def test_a_capture_of_devsec_itself_is_dumped_completely(case: Case, dhe_secrets: list[bytes]) -> None:
    assert_dumped_completely(case, record(case, dhe_secrets))


@pytest.mark.slow
@pytest.mark.parametrize("version", (SpdmVersion.V12, SpdmVersion.V13), ids=lambda v: v.text)
def test_every_hash_with_every_asym_is_dumped_completely(version: SpdmVersion,
                                                         dhe_secrets: list[bytes]) -> None:
    for hash_alg in MEASUREMENT_HASH:
        for asym in SIGNING_ASYMS:
            case = Case(version=version, hash_alg=hash_alg, asym=asym, req_asym=asym)
            assert_dumped_completely(case, record(case, dhe_secrets))


@pytest.mark.slow
@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13), ids=lambda v: v.text)
def test_every_dhe_group_with_every_aead_is_dumped_completely(version: SpdmVersion,
                                                             dhe_secrets: list[bytes]) -> None:
    for base in DHE_AEAD:
        case = replace(base, version=version)
        assert_dumped_completely(case, record(case, dhe_secrets))
