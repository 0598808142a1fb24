"""``devsec dump`` on the SPDM 1.3 captures: endpoint info, the MEL, key pairs, chunking, provisioning.

* endpoint-mel-keypair: every signed ENDPOINT_INFO (out of session, and in
  both sessions with slots 0 and 4) is verified and counted, each MEL is
  reported complete with its entries, each KEY_PAIR_INFO and SET_KEY_PAIR_INFO
  is reported as the engine read it.
* chunking: the MEASUREMENTS a last CHUNK_RESPONSE completes decodes as the
  chunked GET_MEASUREMENTS' answer (it was once decoded as CHUNK_GET's and
  reported undecodable), with its signature verified where it arrives, in and
  out of the session; a CHUNK_SEND sequence shows the SET_CERTIFICATE it
  carries and the SET_CERTIFICATE_RSP its last ACK carries.
* csr-setcert: GET_CSR/CSR and SET_CERTIFICATE/_RSP are decoded, in and out of session.
"""

from __future__ import annotations

from datetime import UTC, datetime

from devsec.dump import dump
from tests.vectors import ROOT, secrets

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def dumped(name: str) -> list[str]:
    capture = (ROOT / name / "capture.pcap").read_bytes()
    return dump(capture, now=NOW, secrets=[value for _, value in secrets(name)])


def test_endpoint_info_mel_and_key_pairs_are_reported() -> None:
    lines = dumped("spdm13-p384-endpoint-mel-keypair")
    verified = [line for line in lines if line.startswith("    signature verified: responder-endpoint_info")]
    assert [line.split(", ")[1] for line in verified] == ["slot 0", "slot 0", "slot 4"]
    assert lines[-1] == "signatures: 3 verified, 0 failed"
    assert lines.count("    measurement extension log complete: 3 entries, 63 bytes") == 3
    assert lines.count("    key pair 1 of 24: usage 0x0001 of 0x0001, algorithm 0x00000001, slots 0x03") == 1
    assert sum(line.startswith("    key pair 1 set (operation ") for line in lines) == 6
    assert not any("followed the conversation up to" in line for line in lines)


def test_a_chunked_measurements_response_decodes_as_the_measurements() -> None:
    lines = dumped("spdm13-p384-chunking")
    assert not any("undecodable" in line for line in lines)
    for number in (56, 72):
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{number} ")]
        assert "SPDM_MEASUREMENTS (" in lines[index] and "blocks=[8]" in lines[index]
        assert lines[index + 1].startswith("    signature verified: responder-measurements signing")
    assert lines[-1] == "signatures: 4 verified, 0 failed"  # CHALLENGE_AUTH and three MEASUREMENTS


def test_a_chunk_send_sequence_shows_the_request_and_response_it_carries() -> None:
    lines = dumped("spdm13-p384-chunking")
    reassembled = [i for i, line in enumerate(lines) if line.startswith("    reassembled: ")]
    # slot 0 out of the session and slot 4 inside it, in each of the two sessions (handles 0-3)
    assert len(reassembled) == 4
    for i, slot in zip(reassembled, (0, 4, 0, 4), strict=True):
        assert "SPDM_CHUNK_SEND (attributes=0x1" in lines[i - 1]
        assert ("SecuredSPDM" in lines[i - 1]) == (slot == 4)
        assert (f"SPDM_SET_CERTIFICATE (attributes=0x1{slot}, key_pair_id=0x1, cert_chain=<1591 bytes>)"
                in lines[i])
        assert "SPDM_CHUNK_SEND_ACK" in lines[i + 1]
        assert lines[i + 2] == f"    response: SPDM(1.3, 0x6e) SPDM_SET_CERTIFICATE_RSP (slot_id=0x{slot})"


def test_provisioning_messages_are_decoded() -> None:
    lines = dumped("spdm13-p384-csr-setcert")
    names = " ".join(lines)
    for name in ("SPDM_GET_CSR (", "SPDM_CSR (", "SPDM_SET_CERTIFICATE (", "SPDM_SET_CERTIFICATE_RSP ("):
        assert name in names
    assert any("SecuredSPDM" in line and "SPDM_SET_CERTIFICATE_RSP (slot_id=0x4)" in line for line in lines)
