"""GET_DIGESTS and GET_CERTIFICATE inside an established session are answered, and stay out of B.

libspdm's requester sends them in a session (``libspdm_get_digest`` and
``libspdm_get_certificate`` take a session ID) and its responder answers them
there without adding them to transcript B; a responder refusing them breaks
that requester's in-session flows.
"""

from __future__ import annotations

import pytest

from spdm.driver import RequesterDriver
from spdm.events import SessionEstablished
from spdm.messages import Certificate, Digests
from spdm.messages.codes import RequestCode, ResponseCode, SpdmVersion
from spdm.secured import open_record, seal

from .test_session_required import negotiated


@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13), ids=lambda v: v.text)
def test_digests_and_a_certificate_portion_in_a_session(version: SpdmVersion) -> None:
    device, requester = negotiated(version)
    driver = RequesterDriver(device.pipe(), requester)
    [established] = [e for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    session_id = established.session_id
    keys = requester.sessions[session_id].current_keys()
    b_before = bytes(device.responder.transcript.b)
    assert requester.negotiated is not None
    codec = requester.negotiated.codec()

    def ask(request: bytes) -> bytes:
        sealed = device.responder.handle_secured(seal(keys.request, session_id, request))
        assert sealed is not None
        return open_record(keys.response, sealed, expected_session_id=session_id)

    digests = ask(bytes([version, RequestCode.GET_DIGESTS, 0, 0]))
    assert digests[1] == ResponseCode.DIGESTS
    assert Digests.decode(digests, codec).provisioned_slot_mask & 1
    portion = ask(bytes([version, RequestCode.GET_CERTIFICATE, 0, 0]) + (0).to_bytes(2, "little")
                  + (0x100).to_bytes(2, "little"))
    assert portion[1] == ResponseCode.CERTIFICATE
    assert len(Certificate.decode(portion, codec).cert_chain) == 0x100
    assert bytes(device.responder.transcript.b) == b_before
