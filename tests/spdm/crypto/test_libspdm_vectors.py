"""Cross-checks against the independent implementation (libspdm captures in vectors/).

* Every certificate chain the reference device (and, in the 1.3 set, the reference
  requester) sent must parse, match its RootHash and pass validate_cert_chain: our
  requester has to accept the reference device.
* The reference CHALLENGE_AUTH signatures (ECDSA at 1.1/1.2/1.3, and the requester's
  RSASSA-PSS-3072 one at 1.3) must verify with our verify().

The pcap reader is deliberately tiny and local (spdm/capture.py is the real one).
Exact SPDM message sizes (DOE objects are zero-padded to a dword) come from the
reference logs: the sender's "size" line for each message.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

import pytest

from spdm.crypto.certs import SpdmCertChain, parse_spdm_cert_chain, validate_cert_chain
from spdm.crypto.signatures import signature_size, verify
from spdm.errors import VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion

VECTORS = Path(__file__).resolve().parents[3] / "vectors" / "libspdm-doe"
DOE_TYPE_SPDM = 1
CERTIFICATE = 0x02
CHALLENGE_AUTH = 0x03
DELIVER_ENCAPSULATED_RESPONSE = 0xEB
Role = Literal["responder", "requester"]


class Scenario(NamedTuple):
    name: str
    version: SpdmVersion
    hash_alg: BaseHashAlgo
    asym: BaseAsymAlgo


SCENARIOS = [
    Scenario("spdm11-p256", SpdmVersion.V11, BaseHashAlgo.SHA_256, BaseAsymAlgo.ECDSA_P256),
    Scenario("spdm12-p384", SpdmVersion.V12, BaseHashAlgo.SHA_384, BaseAsymAlgo.ECDSA_P384),
    Scenario("spdm13-p384-mutauth-psk", SpdmVersion.V13, BaseHashAlgo.SHA_384,
             BaseAsymAlgo.ECDSA_P384),
]


def _doe_objects(name: str) -> list[tuple[int, bytes]]:
    """(DOE data object type, payload after the 8-byte DOE header) per pcap record."""
    data = (VECTORS / name / "capture.pcap").read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    objects = []
    offset = 24
    while offset < len(data):
        (length,) = struct.unpack_from("<I", data, offset + 8)
        record = data[offset + 16:offset + 16 + length]
        objects.append((record[2], record[8:]))
        offset += 16 + length
    return objects


def _cert_chains(name: str) -> list[tuple[Role, int, bytes]]:
    """(sender, slot, chain) for every completed chain retrieval, portions concatenated.

    Covers plain CERTIFICATE responses (the device) and CERTIFICATE inside
    DELIVER_ENCAPSULATED_RESPONSE (the requester, for mutual authentication).
    """
    chains: list[tuple[Role, int, bytes]] = []
    pending: dict[tuple[Role, int], bytes] = {}
    for doe_type, payload in _doe_objects(name):
        if doe_type != DOE_TYPE_SPDM:
            continue
        sender: Role = "responder"
        if payload[1] == DELIVER_ENCAPSULATED_RESPONSE:
            sender, payload = "requester", payload[4:]
        if payload[1] != CERTIFICATE:
            continue
        portion, remainder = struct.unpack_from("<HH", payload, 4)
        key = (sender, payload[2] & 0x0F)
        pending[key] = pending.get(key, b"") + payload[8:8 + portion]
        if remainder == 0:
            chains.append((*key, pending.pop(key)))
    assert not pending, "a chain retrieval did not finish"
    return chains


def _inside_all_validity(chain: SpdmCertChain) -> datetime:
    latest_start = max(cert.not_before for cert in chain.certificates)
    assert latest_start < min(cert.not_after for cert in chain.certificates)
    return latest_start + timedelta(days=1)


def test_spdm12_record_15_is_slot_0_chain() -> None:
    doe_type, payload = _doe_objects("spdm12-p384")[15]
    assert doe_type == DOE_TYPE_SPDM
    assert (payload[0], payload[1], payload[2] & 0x0F) == (0x12, CERTIFICATE, 0)
    portion, remainder = struct.unpack_from("<HH", payload, 4)
    assert (portion, remainder) == (0x637, 0)
    chain = parse_spdm_cert_chain(payload[8:8 + portion], BaseHashAlgo.SHA_384)
    assert len(chain.certificates) == 3
    assert chain.leaf.subject == "CN=DMTF libspdm ECP384 responder cert"
    now = _inside_all_validity(chain)
    validate_cert_chain(chain, [chain.root], BaseAsymAlgo.ECDSA_P384, now=now)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_reference_chains_pass_our_rules(scenario: Scenario) -> None:
    chains = _cert_chains(scenario.name)
    assert sum(sender == "responder" for sender, _, _ in chains) >= 3
    for sender, slot, raw in chains:
        chain = parse_spdm_cert_chain(raw, scenario.hash_alg)
        now = _inside_all_validity(chain)
        # The 1.3 requester signs with ReqBaseAsymAlg RSASSA-PSS-3072.
        asym = scenario.asym if sender == "responder" else BaseAsymAlgo.RSAPSS_3072
        validate_cert_chain(chain, [chain.root], asym, now=now, role=sender)
        # And the same chain must fail where it should: wrong algorithm, expired.
        with pytest.raises(VerificationError, match="does not fit"):
            validate_cert_chain(chain, [chain.root], BaseAsymAlgo.ECDSA_P521, now=now,
                                role=sender)
        with pytest.raises(VerificationError, match="not valid at"):
            validate_cert_chain(chain, [chain.root], asym, role=sender,
                                now=chain.leaf.not_after + timedelta(days=1))
        assert slot in (0, 1, 4)


def test_spdm13_has_requester_chain() -> None:
    senders = {sender for sender, _, _ in _cert_chains("spdm13-p384-mutauth-psk")}
    assert senders == {"responder", "requester"}


def test_reference_chain_needs_its_own_root() -> None:
    (_, _, raw256), *_ = _cert_chains("spdm11-p256")
    (_, _, raw384), *_ = _cert_chains("spdm12-p384")
    p256 = parse_spdm_cert_chain(raw256, BaseHashAlgo.SHA_256)
    p384 = parse_spdm_cert_chain(raw384, BaseHashAlgo.SHA_384)
    with pytest.raises(VerificationError, match="does not lead to a trusted root"):
        validate_cert_chain(p384, [p256.root], BaseAsymAlgo.ECDSA_P384,
                            now=_inside_all_validity(p384))


# --- signatures ------------------------------------------------------------------------

def _sizes(path: Path, prefix: str) -> list[int]:
    pattern = re.escape(prefix) + r" msg \w+\(0x[0-9a-f]+\), size \(0x([0-9a-f]+)\)"
    return [int(size, 16) for size in re.findall(pattern, path.read_text(), re.M)]


def _messages(name: str) -> list[bytes]:
    """The unsecured SPDM messages in order, trimmed to their exact size.

    The DOE objects carry zero padding; the sender's log line gives the real size
    (requests: requester.log, responses: responder.log; they alternate).
    """
    requests = _sizes(VECTORS / name / "requester.log", "libspdm_send_spdm_request[0]")
    responses = _sizes(VECTORS / name / "responder.log", "SpdmSendResponse[0]:")
    sizes = [size for pair in zip(requests, responses, strict=False) for size in pair]
    payloads = [payload for doe_type, payload in _doe_objects(name) if doe_type == DOE_TYPE_SPDM]
    messages = []
    for payload, size in zip(payloads, sizes, strict=False):
        assert len(payload) - size < 4 and not any(payload[size:]), "not just DOE padding"
        messages.append(payload[:size])
    return messages


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_reference_challenge_auth_signature_verifies(scenario: Scenario) -> None:
    messages = _messages(scenario.name)
    index = next(i for i, msg in enumerate(messages) if msg[1] == CHALLENGE_AUTH)
    slot = messages[index - 1][2] & 0x0F  # CHALLENGE Param1
    cert_msg = next(msg for msg in messages if msg[1] == CERTIFICATE and msg[2] & 0x0F == slot)
    chain = parse_spdm_cert_chain(cert_msg[8:], scenario.hash_alg)
    size = signature_size(scenario.asym)
    # M1 = A || B || C: everything from GET_VERSION on, CHALLENGE_AUTH minus its signature.
    m1 = b"".join(messages[:index]) + messages[index][:-size]
    signature = messages[index][-size:]
    context = "responder-challenge_auth signing"
    verify(chain.leaf.public_key(), scenario.asym, scenario.hash_alg, scenario.version,
           context, m1, signature)
    with pytest.raises(VerificationError):
        verify(chain.leaf.public_key(), scenario.asym, scenario.hash_alg, scenario.version,
               context, m1[:-1] + bytes([m1[-1] ^ 1]), signature)


def test_reference_requester_rsapss_signature_verifies() -> None:
    """SPDM 1.3 basic mutual auth: the requester's encapsulated CHALLENGE_AUTH.

    M2 = A || GET_DIGESTS || DIGESTS || GET_CERTIFICATE || CERTIFICATE || CHALLENGE ||
    CHALLENGE_AUTH (minus signature), the inner messages of the encapsulated flow.
    """
    messages = _messages("spdm13-p384-mutauth-psk")
    start = next(i for i, msg in enumerate(messages) if msg[1] == 0xEA)
    flow = messages[start:start + 8]
    assert [msg[1] for msg in flow] == [0xEA, 0x6A, 0xEB, 0x6B, 0xEB, 0x6B, 0xEB, 0x6B]
    # ENCAPSULATED_REQUEST and DELIVER_ENCAPSULATED_RESPONSE have 4-byte headers,
    # ENCAPSULATED_RESPONSE_ACK (1.2+) an 8-byte one.
    inner = [flow[1][4:], flow[2][4:], flow[3][8:], flow[4][4:], flow[5][8:], flow[6][4:]]
    assert [msg[1] for msg in inner] == [0x81, 0x01, 0x82, 0x02, 0x83, 0x03]
    chain = parse_spdm_cert_chain(inner[3][8:], BaseHashAlgo.SHA_384)
    asym = BaseAsymAlgo.RSAPSS_3072
    size = signature_size(asym)
    m2 = b"".join(messages[:6]) + b"".join(inner[:5]) + inner[5][:-size]
    context = "requester-challenge_auth signing"
    verify(chain.leaf.public_key(), asym, BaseHashAlgo.SHA_384, SpdmVersion.V13, context, m2,
           inner[5][-size:])
    with pytest.raises(VerificationError):  # PKCS#1 v1.5 is not what the requester used
        verify(chain.leaf.public_key(), BaseAsymAlgo.RSASSA_3072, BaseHashAlgo.SHA_384,
               SpdmVersion.V13, context, m2, inner[5][-size:])
