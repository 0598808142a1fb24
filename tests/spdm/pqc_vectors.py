"""The post-quantum capture (vectors/libspdm-doe/spdm14-mldsa65-mlkem768) cut into the pieces the
crypto tests need: exact message bytes, reassembled chunked responses, the signed transcripts and the
reference's logged values.

The cuts are made by hand from the messages' own length fields (documented per piece), independent of
devsec's codecs, so the crypto tests check the crypto layer and not the decoders.  Packet numbers are
dump.txt's (1-based); DOE records pad messages to a dword, which the cuts drop.
"""

from __future__ import annotations

import re
from functools import cache

from tests.vectors import ROOT, records, secrets

SET = "spdm14-mldsa65-mlkem768"
MLDSA65_SIGNATURE = 3309
MLKEM768_EK = 1184
MLKEM768_CT = 1088
HASH = 48

_DOE_HEADER = 8


def packet(number: int) -> bytes:
    """The SPDM payload of dump.txt's packet ``number`` (DOE padding included)."""
    return records(SET)[number - 1].data[_DOE_HEADER:]


def reassembled(first: int, last: int) -> bytes:
    """The large response carried by the CHUNK_RESPONSE packets ``first``, ``first + 2`` .. ``last``.

    CHUNK_RESPONSE (1.4): header(4) ChunkSeqNo(4) ChunkSize(4) [LargeMessageSize(4), chunk 0 only] chunk.
    """
    out = b""
    total = 0
    for number in range(first, last + 1, 2):
        payload = packet(number)
        assert payload[1] == 0x06, f"packet {number} is not a CHUNK_RESPONSE"
        seq = int.from_bytes(payload[4:8], "little")
        size = int.from_bytes(payload[8:12], "little")
        if seq == 0:
            total = int.from_bytes(payload[12:16], "little")
            out += payload[16:16 + size]
        else:
            out += payload[12:12 + size]
    assert len(out) == total
    return out


def vca() -> bytes:
    """A: GET_VERSION(4) VERSION(8) GET_CAPABILITIES(20) CAPABILITIES(20) NEGOTIATE_ALGORITHMS ALGORITHMS
    (the last two sized by their Length field)."""
    parts = [packet(7)[:4], packet(8)[:8], packet(9)[:20], packet(10)[:20]]
    for number in (11, 12):
        payload = packet(number)
        parts.append(payload[:int.from_bytes(payload[4:6], "little")])
    return b"".join(parts)


DIGESTS_SIZE = 4 + 3 * HASH + 3 + 3 + 3 * 2
"""DIGESTS with MULTI_KEY_CONN and 3 slots: digests, KeyPairIDs, CertificateInfos, KeyUsageMasks."""

GET_CERTIFICATE_SIZE = 16
"""1.4 LargeCert GET_CERTIFICATE: header, Offset/Length (u16, 0) and LargeOffset/LargeLength (u32)."""

CERTIFICATE_HEADER = 16
"""1.4 LargeCert CERTIFICATE: header, PortionLength/RemainderLength (u16, 0), LargePortion/Remainder (u32)."""


def certificate_response(slot: int) -> bytes:
    """The reassembled CERTIFICATE of slot 0 (packets 18-24) or slot 4 (28-34)."""
    return reassembled(18, 24) if slot == 0 else reassembled(28, 34)


def cert_chain(slot: int) -> bytes:
    """The SPDM certificate chain of slot 0 or 4 (Length, Reserved, RootHash, DER certificates)."""
    return certificate_response(slot)[CERTIFICATE_HEADER:]


def m1() -> bytes:
    """CHALLENGE_AUTH's transcript: A, B = GET_DIGESTS/DIGESTS and both GET_CERTIFICATE/CERTIFICATE
    exchanges (slots 0 and 4), C = CHALLENGE(44) and CHALLENGE_AUTH up to its signature."""
    b = (packet(13)[:4] + packet(14)[:DIGESTS_SIZE]
         + packet(15)[:GET_CERTIFICATE_SIZE] + certificate_response(0)
         + packet(25)[:GET_CERTIFICATE_SIZE] + certificate_response(4))
    return vca() + b + packet(35)[:44] + challenge_auth()[:-MLDSA65_SIGNATURE]


def challenge_auth() -> bytes:
    """CHALLENGE_AUTH: header, CertChainHash, Nonce, MeasurementSummaryHash, OpaqueLength (0),
    RequesterContext(8), signature."""
    return packet(36)[:4 + HASH + 32 + HASH + 2 + 8 + MLDSA65_SIGNATURE]


def measurements() -> bytes:
    """MEASUREMENTS: header, NumberOfBlocks(1), MeasurementRecordLength(3), record, Nonce, OpaqueLength,
    opaque, RequesterContext(8), signature."""
    payload = packet(52)
    end = 8 + int.from_bytes(payload[5:8], "little") + 32
    end += 2 + int.from_bytes(payload[end:end + 2], "little") + 8
    return payload[:end + MLDSA65_SIGNATURE]


def l1() -> bytes:
    """MEASUREMENTS' transcript (1.2+): A, GET_MEASUREMENTS(45) and MEASUREMENTS up to its signature."""
    return vca() + packet(51)[:45] + measurements()[:-MLDSA65_SIGNATURE]


KEY_EXCHANGE = {0: (53, 56, 58), 1: (69, 72, 74)}
"""Per session: the KEY_EXCHANGE packet and the first and last CHUNK_RESPONSE of its KEY_EXCHANGE_RSP."""


def key_exchange(session: int) -> bytes:
    """KEY_EXCHANGE: header, ReqSessionID, policy, reserved, RandomData(32), the ML-KEM-768 encapsulation
    key, OpaqueDataLength and opaque data."""
    payload = packet(KEY_EXCHANGE[session][0])
    end = 40 + MLKEM768_EK
    return payload[:end + 2 + int.from_bytes(payload[end:end + 2], "little")]


def key_exchange_rsp(session: int) -> bytes:
    """KEY_EXCHANGE_RSP (handshake in the clear, so no ResponderVerifyData): header, RspSessionID,
    MutAuthRequested, SlotIDParam, RandomData(32), the ML-KEM-768 ciphertext, MeasurementSummaryHash,
    OpaqueDataLength, opaque data, signature."""
    _, first, last = KEY_EXCHANGE[session]
    return reassembled(first, last)


def encapsulation_key(session: int) -> bytes:
    """The requester's ExchangeData."""
    return key_exchange(session)[40:40 + MLKEM768_EK]


def ciphertext(session: int) -> bytes:
    """The responder's ExchangeData."""
    return key_exchange_rsp(session)[40:40 + MLKEM768_CT]


def th_parts(session: int) -> tuple[bytes, bytes, bytes]:
    """(A ‖ D, Ct, KEY_EXCHANGE ‖ KEY_EXCHANGE_RSP without signature): TH = A ‖ D ‖ Hash(Ct) ‖ the rest.

    Session 0 used slot 0, session 1 slot 4 (KEY_EXCHANGE Param2); D is the last DIGESTS (packet 50).
    """
    slot = 0 if session == 0 else 4
    return (vca() + packet(50)[:DIGESTS_SIZE], cert_chain(slot),
            key_exchange(session) + key_exchange_rsp(session)[:-MLDSA65_SIGNATURE])


def kem_secrets() -> list[bytes]:
    """The requester's logged ML-KEM shared secrets, one per session (secrets.txt)."""
    return [value for kind, value in secrets(SET) if kind == "kem_secret"]


@cache
def _log(side: str) -> str:
    return (ROOT / SET / f"{side}.log").read_text()


def logged(side: str, label: str) -> list[bytes]:
    """Every ``label - hex`` / ``label (0xNN) - hex`` value the reference logged, in order."""
    pattern = re.compile(rf"^{re.escape(label)}(?: \(0x[0-9a-f]+\))? - ((?:[0-9a-f]{{2}} )+)", re.M)
    return [bytes.fromhex(match.group(1)) for match in pattern.finditer(_log(side))]
