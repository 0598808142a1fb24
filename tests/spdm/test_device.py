"""Tests for spdm.device: the emulated device's identities, chains, signatures and measurements."""

from __future__ import annotations

import base64
import struct
from datetime import timedelta

import pytest

from spdm.crypto import (
    DeviceIdentity,
    build_spdm_cert_chain,
    digest,
    generate_device_identity,
    hash_size,
    measurement_digest,
    parse_spdm_cert_chain,
    validate_cert_chain,
    verify,
)
from spdm.device import DeviceModel, MeasurementSource, default_measurements
from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import (
    DMTF_RAW_BIT_STREAM,
    BaseAsymAlgo,
    BaseHashAlgo,
    DmtfValueType,
    MeasurementHashAlgo,
    SpdmVersion,
)

P256 = BaseAsymAlgo.ECDSA_P256
SHA256 = MeasurementHashAlgo.SHA_256
CONTEXT = "responder-challenge_auth signing"


@pytest.fixture(scope="module")
def device() -> DeviceModel:
    return DeviceModel.generate(P256, slots=(0, 3))


@pytest.fixture(scope="module")
def other_identity() -> DeviceIdentity:
    return generate_device_identity(P256)


def _pem(der: bytes, label: str = "CERTIFICATE") -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


# --- identities and chains -------------------------------------------------------------------


@pytest.mark.parametrize("hash_alg", [BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_384])
def test_chains_parse_and_validate(device: DeviceModel, hash_alg: BaseHashAlgo) -> None:
    for slot in (0, 3):
        raw = device.certificate_chain(slot, hash_alg)
        assert raw is not None
        chain = parse_spdm_cert_chain(raw, hash_alg)
        assert chain.root_hash == digest(hash_alg, chain.root.der)
        assert len(chain.certificates) == 3
        root = device.root_certificate(slot)
        assert chain.root == root
        validate_cert_chain(chain, [root], P256, now=root.not_before + timedelta(days=1))


def test_slots_are_distinct_identities(device: DeviceModel) -> None:
    assert device.provisioned_slots() == 0b1001
    assert set(device.slots) == {0, 3}
    assert device.slots[0].leaf != device.slots[3].leaf
    assert device.certificate_chain(1, BaseHashAlgo.SHA_256) is None
    chain_0 = device.certificate_chain(0, BaseHashAlgo.SHA_256)
    chain_3 = device.certificate_chain(3, BaseHashAlgo.SHA_256)
    assert chain_0 is not None and chain_3 is not None
    with pytest.raises(VerificationError):  # slot 3's chain does not lead to slot 0's root
        validate_cert_chain(parse_spdm_cert_chain(chain_3, BaseHashAlgo.SHA_256),
                            [device.root_certificate(0)], P256,
                            now=device.root_certificate(0).not_before + timedelta(days=1))


def test_chain_cached_per_slot_and_hash(device: DeviceModel) -> None:
    first = device.certificate_chain(0, BaseHashAlgo.SHA_384)
    assert device.certificate_chain(0, BaseHashAlgo.SHA_384) is first
    other = device.certificate_chain(0, BaseHashAlgo.SHA_512)
    assert other is not None and first is not None
    assert len(other) - len(first) == hash_size(BaseHashAlgo.SHA_512) - 48


def test_sign_uses_the_slot_key(device: DeviceModel) -> None:
    transcript = b"M1 bytes" * 10
    for version in (SpdmVersion.V11, SpdmVersion.V12):
        signature = device.sign(3, BaseHashAlgo.SHA_256, version, CONTEXT, transcript)
        verify(device.slots[3].leaf.public_key(), P256, BaseHashAlgo.SHA_256, version, CONTEXT,
               transcript, signature)
        with pytest.raises(VerificationError):
            verify(device.slots[0].leaf.public_key(), P256, BaseHashAlgo.SHA_256, version,
                   CONTEXT, transcript, signature)
    with pytest.raises(LocalProtocolError):
        device.sign(1, BaseHashAlgo.SHA_256, SpdmVersion.V12, CONTEXT, transcript)


def test_asym_alg_and_root_pem(device: DeviceModel) -> None:
    assert device.asym_alg == P256
    pem = device.root_certificate_pem(3)
    assert pem == _pem(device.root_certificate(3).der)
    with pytest.raises(ConfigurationError):
        device.root_certificate(2)


# --- measurements ----------------------------------------------------------------------------


def test_default_measurements_content() -> None:
    sources = {s.index: s for s in default_measurements()}
    assert sorted(sources) == [1, 2, 3, 4, 0x10, 0xFD, 0xFE]
    assert sources[1].kind == DmtfValueType.IMMUTABLE_ROM and sources[1].digest
    assert sources[3].kind == DmtfValueType.HARDWARE_CONFIGURATION
    assert len(sources[3].data) == 16 and not sources[3].digest
    assert struct.unpack("<Q", sources[0x10].data) == (7,)
    assert not sources[0x10].digest
    assert len(sources[0xFE].data) == 16
    op_caps, op_state, mode_caps, mode_state = struct.unpack("<4I", sources[0xFE].data)
    assert op_state & op_caps and mode_state == 0
    manifest = sources[0xFD].data.decode()
    for index in (1, 2, 3, 4, 16, 254):
        assert f"\n{index}=" in manifest


def test_blocks_digest_versus_raw(device: DeviceModel) -> None:
    sources = {s.index: s for s in device.measurements}
    blocks = device.measurement_blocks(SHA256, raw_requested=False)
    assert [b.index for b in blocks] == sorted(sources)
    for block in blocks:
        source = sources[block.index]
        assert block.kind == source.kind
        if source.digest:
            assert not block.raw_bit_stream
            assert block.value == measurement_digest(SHA256, source.data)
        else:
            assert block.value_type == DMTF_RAW_BIT_STREAM | source.kind
            assert block.value == source.data
    for raw_blocks in (device.measurement_blocks(SHA256, raw_requested=True),
                       device.measurement_blocks(MeasurementHashAlgo.RAW_BIT_STREAM_ONLY,
                                                 raw_requested=False)):
        assert all(b.raw_bit_stream for b in raw_blocks)
        assert [b.value for b in raw_blocks] == [sources[b.index].data for b in raw_blocks]


def test_sha384_digests(device: DeviceModel) -> None:
    rom = device.measurement_blocks(MeasurementHashAlgo.SHA_384, raw_requested=False)[0]
    assert len(rom.value) == 48


def test_with_measurement_changes_one_block(device: DeviceModel) -> None:
    altered = device.with_measurement(2, b"evil firmware")
    before = device.measurement_blocks(SHA256, raw_requested=False)
    after = altered.measurement_blocks(SHA256, raw_requested=False)
    changed = [b.index for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [2]
    assert after[1].value == measurement_digest(SHA256, b"evil firmware")
    assert altered.slots == device.slots
    with pytest.raises(ConfigurationError):
        device.with_measurement(5, b"x")


@pytest.mark.parametrize("measurements", [
    [MeasurementSource(1, DmtfValueType.IMMUTABLE_ROM, b"a", True)] * 2,
    [MeasurementSource(0, DmtfValueType.IMMUTABLE_ROM, b"a", True)],
    [MeasurementSource(0xFF, DmtfValueType.IMMUTABLE_ROM, b"a", True)],
])
def test_bad_measurements_refused(device: DeviceModel, measurements: list[MeasurementSource]
                                  ) -> None:
    with pytest.raises(ConfigurationError):
        DeviceModel(device.slots, measurements)


def test_bad_slots_refused(device: DeviceModel, other_identity: DeviceIdentity) -> None:
    with pytest.raises(ConfigurationError):
        DeviceModel({})
    with pytest.raises(ConfigurationError):
        DeviceModel({8: other_identity})
    mismatched = DeviceIdentity(other_identity.certificates, device.slots[0].leaf_key)
    with pytest.raises(ConfigurationError, match="does not match"):
        DeviceModel({0: mismatched})


# --- from_files ------------------------------------------------------------------------------


def test_from_files_pem_bundle(device: DeviceModel) -> None:
    identity = device.slots[3]
    bundle = b"".join(_pem(c.der) for c in identity.certificates)
    loaded = DeviceModel.from_files(bundle, identity.leaf_key.to_pem(), slot=2)
    assert loaded.provisioned_slots() == 0b100
    assert loaded.asym_alg == P256
    assert loaded.certificate_chain(2, BaseHashAlgo.SHA_384) == build_spdm_cert_chain(
        identity.certificates, BaseHashAlgo.SHA_384)
    signature = loaded.sign(2, BaseHashAlgo.SHA_384, SpdmVersion.V13, CONTEXT, b"t")
    verify(identity.leaf.public_key(), P256, BaseHashAlgo.SHA_384, SpdmVersion.V13, CONTEXT,
           b"t", signature)


def test_from_files_der(device: DeviceModel) -> None:
    identity = device.slots[0]
    der = b"".join(c.der for c in identity.certificates)
    loaded = DeviceModel.from_files(der, identity.leaf_key.to_pem(), asym=P256)
    assert loaded.slots[0].certificates == identity.certificates
    assert loaded.measurements == default_measurements()


def test_from_files_mismatched_key(device: DeviceModel, other_identity: DeviceIdentity) -> None:
    der = b"".join(c.der for c in device.slots[0].certificates)
    with pytest.raises(ConfigurationError, match="does not match"):
        DeviceModel.from_files(der, other_identity.leaf_key.to_pem())


@pytest.mark.parametrize(("chain", "key"), [
    (b"not a certificate", None),
    (None, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
])
def test_from_files_unreadable(device: DeviceModel, chain: bytes | None, key: bytes | None
                               ) -> None:
    identity = device.slots[0]
    with pytest.raises(ConfigurationError):
        DeviceModel.from_files(chain or b"".join(c.der for c in identity.certificates),
                               key or identity.leaf_key.to_pem())


def test_from_files_key_not_fitting_asym(device: DeviceModel) -> None:
    identity = device.slots[0]
    der = b"".join(c.der for c in identity.certificates)
    with pytest.raises(ConfigurationError):
        DeviceModel.from_files(der, identity.leaf_key.to_pem(), asym=BaseAsymAlgo.ECDSA_P384)


def test_with_signing_key_makes_a_counterfeit(device: DeviceModel) -> None:
    impostor = DeviceModel.generate(P256)
    forged = device.with_signing_key(impostor)
    assert forged.certificate_chain(3, BaseHashAlgo.SHA_256) == device.certificate_chain(
        3, BaseHashAlgo.SHA_256)
    for slot in (0, 3):  # slot 3 falls back to the impostor's only key
        signature = forged.sign(slot, BaseHashAlgo.SHA_256, SpdmVersion.V12, CONTEXT, b"t")
        verify(impostor.slots[0].leaf.public_key(), P256, BaseHashAlgo.SHA_256,
               SpdmVersion.V12, CONTEXT, b"t", signature)
        with pytest.raises(VerificationError):
            verify(device.slots[slot].leaf.public_key(), P256, BaseHashAlgo.SHA_256,
                   SpdmVersion.V12, CONTEXT, b"t", signature)
    # Still a counterfeit after a measurement change (no key check sneaks back in).
    assert forged.with_measurement(1, b"x").slots[0].leaf_key is impostor.slots[0].leaf_key
