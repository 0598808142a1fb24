"""The capture's ML-KEM-768 secrets feed devsec's key schedule to the values the reference logged.

secrets.txt holds the requester's ``[KEM Secret]`` per session: used where a DHE secret is (the
handshake secret's HKDF-Extract), with TH1 from the capture, our key schedule reproduces the
reference's ``handshake_secret`` and both directions' handshake secrets.
"""

from __future__ import annotations

import pytest

from spdm.crypto.hashes import digest
from spdm.keyschedule import KeySchedule
from spdm.messages.codes import BaseHashAlgo, SpdmVersion
from tests.spdm import pqc_vectors as pv

SHA384 = BaseHashAlgo.SHA_384


def _th1(session: int) -> bytes:
    head, chain, tail = pv.th_parts(session)
    signature = pv.key_exchange_rsp(session)[-pv.MLDSA65_SIGNATURE:]
    return digest(SHA384, head + digest(SHA384, chain) + tail + signature)


@pytest.mark.parametrize("session", [0, 1])
def test_kem_secret_gives_the_logged_handshake_secrets(session: int) -> None:
    assert pv.logged("requester", "th1 hash")[session] == _th1(session)
    secrets = KeySchedule(SHA384, SpdmVersion.V14).handshake(pv.kem_secrets()[session], _th1(session))
    assert secrets.handshake_secret == pv.logged("responder", "handshake_secret")[session]
    assert secrets.request_secret == pv.logged("responder", "request_handshake_secret")[session]
    assert secrets.response_secret == pv.logged("responder", "response_handshake_secret")[session]
