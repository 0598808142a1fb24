"""spdm.keyschedule: BinConcat, derivation chain, sizes, input checks, and no secrets in repr.

The exhaustive cross-check against libspdm's logs is test_session_vectors.py;
here one session is pinned inline so a failure points at a single derivation.
"""

from __future__ import annotations

import pytest

from spdm.crypto import hkdf_expand, hmac_digest
from spdm.errors import ConfigurationError, LocalProtocolError
from spdm.keyschedule import DataSecrets, HandshakeSecrets, KeySchedule, bin_concat
from spdm.messages.codes import AeadSuite, BaseHashAlgo, SpdmVersion


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# vectors/libspdm-doe/spdm11-p256/requester.log, first session (0xffffffff): SPDM 1.1, SHA-256,
# AES-128-GCM.  Inputs: the DHE secret (secrets.txt line 1) and the logged TH1/TH2 hashes.
DHE_SECRET = h("0c98efda45ea6263c59065a67b7e73f4682c57048957c2c98d76e6a5ed26282e")
TH1 = h("74 a5 87 c2 45 9c 8f 33 3d 7f c0 ac 40 c7 e5 61 f7 5e 38 41 68 85 ac 4d 80 77 f8 1d 02 17 a9 db")
TH2 = h("65 ad 97 2d a0 47 4f 6c c7 80 30 22 09 ca ac af bc 93 29 95 01 2f b9 7c d4 5c 24 06 74 9e 70 50")
HANDSHAKE_SECRET = h("1853a061e15877efe87fd1424e2d45d9f87ee4ffdd17accff94afdbd557b5c36")
REQ_HS = h("e7 b2 2b d7 2d 0f e5 30 80 dd 04 02 e7 47 eb 0c 7a 49 2e 35 6d 4a a6 a5 93 28 ac 7a 94 6e 0c 44")
RSP_HS = h("9d 78 09 e5 29 f3 c2 44 7a 11 80 9e 00 f9 54 c5 fc 02 15 99 88 55 4d be 4f 6f fe 91 7a cc 81 81")
REQ_FINISHED = h("a5dc07418aa2e5bf3e4dc47ace764a6002844bc0b079ced546bbcb170c3e7fb7")
RSP_FINISHED = h("52006cb3a95fdfcbcf266b0aee07a749863684c022b6057ce043e4f16fc03e7c")
REQ_HS_KEY, REQ_HS_IV = h("500676ac6b7879a46de2f9e0ce5d78ad"), h("2a9abd91eedbaf00a77c93b8")
RSP_HS_KEY, RSP_HS_IV = h("53c0c9da2d17646fba1c57fe49bf49f6"), h("724e221f58bf5c14425c0690")
MASTER = h("48 bd 9e c6 60 17 6e 66 cd 0a 9c 66 12 70 ba 50 75 2f 95 8a 8f 0a d9 4a 22 a1 36 03 04 42 b2 ef")
REQ_DATA = h("1997b8ceb3602d5921328871c7952818ff2fbe22b5e7bf15065c971656147cf7")
RSP_DATA = h("766c1e8cbd308dd0e977c90ea220cf0f9049dff1f525c7b7666f8d646c5a4651")
EXPORT = h("ff f1 15 65 70 60 bd 7e bd 8a 91 20 7c 38 9f 26 c9 9b 24 7e b2 e6 ce c1 c8 25 49 48 d6 89 15 a7")
RSP_DATA_UPDATED = h("80edc5e1372651a5839936a1f1e1eac1549aee08ab3cd2d51d51b0e91d4165b2")
RSP_UPDATED_KEY = h("5b c6 b1 e2 6b 94 af 7f 2a bb f9 eb eb 88 a8 75")
RSP_UPDATED_IV = h("61 41 60 ee 95 20 fb bb da 64 6b 80")

SCHEDULE_11 = KeySchedule(BaseHashAlgo.SHA_256, SpdmVersion.V11)


def test_bin_concat_example_from_protocols_6_1() -> None:
    assert bin_concat(SpdmVersion.V12, 32, b"key") == h("20 00 73 70 64 6d 31 2e 32 20 6b 65 79")


def test_bin_concat_as_libspdm_logged_it() -> None:
    # requester.log "bin_str7": the 1.1 finished-key label for SHA-256; "bin_str6": the IV label.
    assert bin_concat(SpdmVersion.V11, 32, b"finished") == h(
        "20 00 73 70 64 6d 31 2e 31 20 66 69 6e 69 73 68 65 64")
    assert bin_concat(SpdmVersion.V11, 12, b"iv") == h("0c 00 73 70 64 6d 31 2e 31 20 69 76")


def test_bin_concat_appends_context_and_uses_the_version_label() -> None:
    assert bin_concat(SpdmVersion.V13, 0x130, b"req hs data", b"\xaa" * 3) == (
        b"\x30\x01spdm1.3 req hs data\xaa\xaa\xaa")


@pytest.mark.parametrize("length", [-1, 0x10000])
def test_bin_concat_length_must_fit_u16(length: int) -> None:
    with pytest.raises(LocalProtocolError):
        bin_concat(SpdmVersion.V12, length, b"key")


def test_handshake_known_answer() -> None:
    hs = SCHEDULE_11.handshake(DHE_SECRET, TH1)
    assert hs == HandshakeSecrets(HANDSHAKE_SECRET, REQ_HS, RSP_HS, REQ_FINISHED, RSP_FINISHED)
    assert SCHEDULE_11.traffic_keys(hs.request_secret, AeadSuite.AES_128_GCM) == (REQ_HS_KEY, REQ_HS_IV)
    assert SCHEDULE_11.traffic_keys(hs.response_secret, AeadSuite.AES_128_GCM) == (RSP_HS_KEY, RSP_HS_IV)


def test_data_known_answer_with_exporter_bound_to_th2() -> None:
    hs = SCHEDULE_11.handshake(DHE_SECRET, TH1)
    assert SCHEDULE_11.data(hs, TH2) == DataSecrets(MASTER, REQ_DATA, RSP_DATA, EXPORT)
    # spdm-rs's reading (no context) gives another exporter: PROTOCOLS.md §6.2 [!].
    no_context = hkdf_expand(BaseHashAlgo.SHA_256, MASTER, bin_concat(SpdmVersion.V11, 32, b"exp master"), 32)
    assert SCHEDULE_11.data(hs, TH2).export_master_secret != no_context


def test_key_update_known_answer() -> None:
    updated = SCHEDULE_11.update(RSP_DATA)
    assert updated == RSP_DATA_UPDATED
    assert SCHEDULE_11.traffic_keys(updated, AeadSuite.AES_128_GCM) == (RSP_UPDATED_KEY, RSP_UPDATED_IV)


def test_verify_data_is_hmac_of_the_transcript_hash() -> None:
    assert SCHEDULE_11.verify_data(RSP_FINISHED, TH1) == hmac_digest(BaseHashAlgo.SHA_256, RSP_FINISHED, TH1)
    with pytest.raises(LocalProtocolError):
        SCHEDULE_11.verify_data(RSP_FINISHED, TH1[:-1])


@pytest.mark.parametrize(("aead", "key_size"), [
    (AeadSuite.AES_128_GCM, 16), (AeadSuite.AES_256_GCM, 32), (AeadSuite.CHACHA20_POLY1305, 32)])
def test_traffic_key_sizes_per_aead(aead: AeadSuite, key_size: int) -> None:
    key, iv = SCHEDULE_11.traffic_keys(REQ_DATA, aead)
    assert (len(key), len(iv)) == (key_size, 12)


def test_sm4_is_not_supported() -> None:
    with pytest.raises(ConfigurationError):
        SCHEDULE_11.traffic_keys(REQ_DATA, AeadSuite.SM4_GCM)


@pytest.mark.parametrize(("alg", "size"), [
    (BaseHashAlgo.SHA_256, 32), (BaseHashAlgo.SHA_384, 48), (BaseHashAlgo.SHA_512, 64)])
def test_every_secret_is_hash_sized(alg: BaseHashAlgo, size: int) -> None:
    ks = KeySchedule(alg, SpdmVersion.V12)
    hs = ks.handshake(b"\x01" * 48, b"\x02" * size)
    ds = ks.data(hs, b"\x03" * size)
    values = [*vars_of(hs), *vars_of(ds), ks.update(ds.request_secret)]
    assert {len(v) for v in values} == {size}
    assert len(set(values)) == len(values)  # every label gives a different secret


def vars_of(secrets: HandshakeSecrets | DataSecrets) -> list[bytes]:
    return [getattr(secrets, name) for name in secrets.__dataclass_fields__]


def test_psk_salt_zero_before_1_3_and_ff_from_1_3() -> None:
    th = b"\x07" * 48
    for version in (SpdmVersion.V11, SpdmVersion.V12):
        ks = KeySchedule(BaseHashAlgo.SHA_384, version)
        assert ks.handshake(b"psk", th, psk=True) == ks.handshake(b"psk", th)
    ks = KeySchedule(BaseHashAlgo.SHA_384, SpdmVersion.V13)
    assert ks.handshake(b"psk", th, psk=True) != ks.handshake(b"psk", th)


def test_spdm_1_0_has_no_key_schedule() -> None:
    with pytest.raises(LocalProtocolError):
        KeySchedule(BaseHashAlgo.SHA_256, SpdmVersion.V10)


def test_unsupported_hash() -> None:
    with pytest.raises(ConfigurationError):
        KeySchedule(BaseHashAlgo.SM3_256, SpdmVersion.V12)


def test_input_sizes_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        SCHEDULE_11.handshake(DHE_SECRET, TH1[:16])
    with pytest.raises(LocalProtocolError):
        SCHEDULE_11.handshake(b"", TH1)
    with pytest.raises(LocalProtocolError):
        SCHEDULE_11.data(SCHEDULE_11.handshake(DHE_SECRET, TH1), TH2 + b"\x00")


def test_no_secret_in_repr_or_str() -> None:
    hs = SCHEDULE_11.handshake(DHE_SECRET, TH1)
    ds = SCHEDULE_11.data(hs, TH2)
    secret_hex = [v.hex() for v in (DHE_SECRET, *vars_of(hs), *vars_of(ds))]
    for obj in (hs, ds, SCHEDULE_11):
        for text in (repr(obj), str(obj)):
            assert not any(s in text or s[:16] in text for s in secret_hex)
            assert "\\x" not in text  # no raw bytes at all
    assert repr(SCHEDULE_11) == "KeySchedule(SHA_256, 1.1)"
