"""A request that its connection's SPDM version does not define is UnsupportedRequest (ErrorData: its code).

KEY_EXCHANGE and the other session requests exist from SPDM 1.1; on a 1.0
connection they are unknown codes, as libspdm's responder answers them, not
requests in the wrong state or malformed ones.
"""

from __future__ import annotations

import pytest

from spdm.errors import SpdmErrorCode
from spdm.messages.codes import RequestCode, ResponseCode, SpdmVersion

from .test_session_required import negotiated

FROM_1_1 = (RequestCode.KEY_EXCHANGE, RequestCode.FINISH, RequestCode.PSK_EXCHANGE, RequestCode.PSK_FINISH,
            RequestCode.HEARTBEAT, RequestCode.KEY_UPDATE, RequestCode.END_SESSION,
            RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE)


@pytest.mark.parametrize("code", FROM_1_1, ids=lambda c: c.name)
def test_a_1_1_request_on_a_1_0_connection_is_unsupported(code: RequestCode) -> None:
    device, _ = negotiated(SpdmVersion.V10)
    response = device.responder.handle(bytes([SpdmVersion.V10, code, 0, 0]) + bytes(64))
    assert response == bytes([SpdmVersion.V10, ResponseCode.ERROR, SpdmErrorCode.UNSUPPORTED_REQUEST, code])


def test_on_a_1_1_connection_they_are_judged_as_requests() -> None:
    device, _ = negotiated(SpdmVersion.V11)
    response = device.responder.handle(bytes([SpdmVersion.V11, RequestCode.HEARTBEAT, 0, 0]))
    assert response[1:3] == bytes([ResponseCode.ERROR, SpdmErrorCode.UNEXPECTED_REQUEST])  # not in a session
