"""ML-KEM (SPDM 1.4 KEM AlgStruct) through spdm.crypto.kem: sizes, both halves, bad input.

The capture's KEY_EXCHANGE carries a real ML-KEM-768 encapsulation key and its KEY_EXCHANGE_RSP a
ciphertext: our responder half encapsulates to the reference's key, and the sizes are the wire's.
"""

from __future__ import annotations

import pytest

from spdm.crypto import (
    KemKeyPair,
    generate_kem_key,
    kem_ciphertext_size,
    kem_encapsulate,
    kem_encapsulation_key_size,
    kem_secret_size,
    kem_supported,
)
from spdm.errors import ConfigurationError, DecodeError
from spdm.messages.codes import KemAlgo
from tests.spdm import pqc_vectors as pv

USABLE = [KemAlgo.ML_KEM_768, KemAlgo.ML_KEM_1024]


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


@pytest.mark.parametrize(("alg", "ek", "ct"), [(KemAlgo.ML_KEM_512, 800, 768),
                                              (KemAlgo.ML_KEM_768, 1184, 1088),
                                              (KemAlgo.ML_KEM_1024, 1568, 1568)], ids=_id)
def test_sizes_of_every_parameter_set(alg: KemAlgo, ek: int, ct: int) -> None:
    assert (kem_encapsulation_key_size(alg), kem_ciphertext_size(alg), kem_secret_size(alg)) == (ek, ct, 32)


@pytest.mark.parametrize("alg", USABLE, ids=_id)
def test_requester_and_responder_agree(alg: KemAlgo) -> None:
    requester = generate_kem_key(alg)
    assert requester.algorithm is alg
    exchange = requester.public_bytes()
    assert len(exchange) == kem_encapsulation_key_size(alg)
    ciphertext, secret = kem_encapsulate(alg, exchange)
    assert len(ciphertext) == kem_ciphertext_size(alg)
    assert len(secret) == 32
    assert requester.shared_secret(ciphertext) == secret
    again, other = kem_encapsulate(alg, exchange)
    assert (again, other) != (ciphertext, secret)  # fresh randomness per encapsulation


def test_ml_kem_512_decodes_but_is_never_usable() -> None:
    assert KemAlgo.ML_KEM_512 not in kem_supported()
    assert kem_supported() == KemAlgo.ML_KEM_768 | KemAlgo.ML_KEM_1024
    with pytest.raises(ConfigurationError, match="no ML-KEM-512"):
        generate_kem_key(KemAlgo.ML_KEM_512)
    with pytest.raises(ConfigurationError, match="no ML-KEM-512"):
        kem_encapsulate(KemAlgo.ML_KEM_512, bytes(800))


@pytest.mark.parametrize("alg", [KemAlgo(0), KemAlgo.ML_KEM_768 | KemAlgo.ML_KEM_1024], ids=str)
def test_not_a_single_bit(alg: KemAlgo) -> None:
    with pytest.raises(ConfigurationError, match="single KemAlgo"):
        kem_ciphertext_size(alg)
    with pytest.raises(ConfigurationError, match="single KemAlgo"):
        generate_kem_key(alg)


def test_bad_peer_values_are_decode_errors() -> None:
    alg = KemAlgo.ML_KEM_768
    key = generate_kem_key(alg)
    with pytest.raises(DecodeError, match="1183 bytes, expected 1184"):
        kem_encapsulate(alg, key.public_bytes()[:-1])
    with pytest.raises(DecodeError, match="not valid"):
        kem_encapsulate(alg, b"\xff" * 1184)  # coefficients >= q fail FIPS 203's modulus check
    with pytest.raises(DecodeError, match="1089 bytes, expected 1088"):
        key.shared_secret(bytes(1089))
    # A well-sized but foreign ciphertext decapsulates (implicit rejection) to a different secret.
    ciphertext, secret = kem_encapsulate(alg, generate_kem_key(alg).public_bytes())
    assert key.shared_secret(ciphertext) != secret


def test_repr_shows_no_key_material() -> None:
    key = generate_kem_key(KemAlgo.ML_KEM_1024)
    assert repr(key) == "KemKeyPair(algorithm=ML_KEM_1024)"
    assert isinstance(key, KemKeyPair)


@pytest.mark.parametrize("session", [0, 1])
def test_capture_exchange_data(session: int) -> None:
    alg = KemAlgo.ML_KEM_768
    encapsulation_key = pv.encapsulation_key(session)
    ciphertext, secret = kem_encapsulate(alg, encapsulation_key)  # the reference's key is valid
    assert len(ciphertext) == len(pv.ciphertext(session)) == kem_ciphertext_size(alg)
    assert len(secret) == len(pv.kem_secrets()[session]) == kem_secret_size(alg)
    assert pv.ciphertext(session) != ciphertext
