"""In-process DOE transport: the host calls the device endpoint directly.

For tests and for running host and device models in one process: no
registers, no sockets, just the endpoint's ``handle`` behind ``DoeTransport``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from spdm.errors import LocalProtocolError, TransportError

__all__ = ["PipeTransport"]

_log = logging.getLogger(__name__)


class PipeTransport:
    """``DoeTransport`` that hands each request object straight to an endpoint."""

    def __init__(self, endpoint: Callable[[bytes], bytes | None]) -> None:
        """Wrap ``endpoint``.

        Args:
            endpoint: takes one complete DOE object and returns the complete
                response object or None (e.g. ``DoeEndpoint.handle``).
        """
        self._endpoint: Callable[[bytes], bytes | None] | None = endpoint

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Pass one DOE object to the endpoint and return its response object.

        Args:
            request: one complete DOE object.
            timeout: ignored: the endpoint answers synchronously.

        Returns:
            The endpoint's response object.

        Raises:
            LocalProtocolError: the transport is closed.
            TransportError: the endpoint returned no response (it dropped the
                request, as a real device would by staying silent).
        """
        if self._endpoint is None:
            raise LocalProtocolError("pipe transport is closed")
        response = self._endpoint(request)
        if response is None:
            raise TransportError("device dropped the request (no response object)")
        if _log.isEnabledFor(logging.DEBUG):  # asked per exchange: no call into a log that is off
            _log.debug("pipe exchange: %d bytes out, %d in", len(request), len(response))
        return response

    def close(self) -> None:
        """Detach from the endpoint; later exchanges raise LocalProtocolError."""
        self._endpoint = None
