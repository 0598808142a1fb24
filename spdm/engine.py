"""The one calling convention of devsec's sans-IO engines (SPDM, IDE_KM, TDISP; STYLE R2).

Every requester engine -- :class:`spdm.requester.Requester`,
:class:`ide_km.IdeKmRequester`, :class:`tdisp.TdispRequester` -- is driven the
same way, whatever carries its bytes:

1. a command method (``get_version()``, ``query()``, ``lock()``...) queues a
   request; called in the wrong state it raises ``LocalProtocolError`` and
   changes nothing;
2. :meth:`RequesterEngine.data_to_send` hands out the next request's bytes;
3. the caller delivers the whole response to
   :meth:`RequesterEngine.receive_data` (a peer's ERROR answer arrives through
   :meth:`RequesterEngine.receive_error` when a carrier, e.g. SPDM under
   IDE_KM/TDISP, reports it out of band);
4. :meth:`RequesterEngine.next_event` yields what happened, ``None`` when
   nothing more did; :attr:`RequesterEngine.busy` says a command is in flight.

Time is never read by an engine: :meth:`RequesterEngine.get_timer` says how
many seconds the caller should wait before calling
:meth:`RequesterEngine.handle_timer` (a Busy retry, a ResponseNotReady poll),
or ``None`` when no wait is pending.

Errors: a malformed or unexpected response raises ``RemoteProtocolError`` (or
its ``DecodeError``), a failed check ``VerificationError``; either poisons the
engine, and every later call raises ``LocalProtocolError``.

Every device-side model (the SPDM responder's vendor handlers, the IDE_KM and
TDISP device models) answers through :class:`VendorHandler`: one request in,
one response out, with the SPDM session it arrived in; a refusal the
specification answers with an SPDM ERROR is raised as a ``ProtocolError``
carrying that ``error_code``.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["RequesterEngine", "VendorHandler"]


class RequesterEngine(Protocol):
    """A sans-IO requester: requests out, responses in, events out."""

    @property
    def busy(self) -> bool:
        """A command is in progress (a request is queued or awaits its response)."""
        ...

    def data_to_send(self) -> bytes:
        """The next request's bytes, or b"" when none is ready."""
        ...

    def receive_data(self, data: bytes) -> None:
        """Process the whole response to the outstanding request."""
        ...

    def receive_error(self, error_code: int, error_data: int = 0) -> None:
        """The peer answered the outstanding request with an SPDM ERROR its carrier reported."""
        ...

    def next_event(self) -> object | None:
        """The next event, or None."""
        ...

    def get_timer(self) -> float | None:
        """Seconds to wait before :meth:`handle_timer`, or None."""
        ...

    def handle_timer(self) -> None:
        """The wait :meth:`get_timer` asked for is over."""
        ...


class VendorHandler(Protocol):
    """A device model answering one protocol's requests inside (or outside) an SPDM session."""

    def __call__(self, payload: bytes, session_id: int | None) -> bytes:
        """The response payload to ``payload``, received in ``session_id`` (None: in the clear)."""
        ...
