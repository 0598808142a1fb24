"""The security-processor side of ``psp-proxy``: a TSM that owns every secret, reaching devices via the host.

Run as its own process (``python -m tsm.psp_main``), standing in for AMD's
PSP or Intel's TDX module: it reads frames (:mod:`.psp_wire`) carrying the
documents of :mod:`.wire` on stdin and answers on stdout.  Inside, the same
:class:`~.native.DeviceLink` s as the native backend run the SPDM, IDE_KM and
TDISP requesters, but their DOE transport is a relay: each DOE object goes to
the host in a ``DOE_REQUEST`` frame, with the response timeout the requester
allows for it, and the device's answer comes back in ``DOE_RESPONSE`` (or
the host transport's error, a TransportTimeout say, in ``DOE_FAILED``).
Session keys, DHE secrets and IDE keys therefore never leave this process;
what does leave is DOE objects (secured ones encrypted) and evidence.

Each command runs on its own thread, so a slow or dead device holds up only
its own command.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import IO

from spdm.errors import DecodeError, DevsecError, TransportError, error_from_report

from .info import DeviceInfo, TdiInfo
from .interface import Operation, perform
from .native import NativeTsm
from .psp_wire import DoeRequest, Frame, FrameKind, encode_doe_request, read_frame, write_frame
from .wire import Failed, Stepped, Succeeded, decode_config, decode_error, decode_operation, encode_answer

__all__ = ["PSP_NAME", "serve"]

log = logging.getLogger(__name__)

PSP_NAME = "psp-proxy"


class _Mailbox:
    """The process's end of the host mailbox: one writer, one queue per command in flight."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._write_lock = threading.Lock()
        self._waiting: dict[int, queue.Queue[Frame | None]] = {}
        self._tag = threading.local()

    def send(self, frame: Frame) -> None:
        with self._write_lock:
            write_frame(self._out, frame)

    def open(self, tag: int) -> None:
        self._waiting[tag] = queue.Queue()

    def close(self, tag: int) -> None:
        self._waiting.pop(tag, None)

    def deliver(self, frame: Frame) -> None:
        waiting = self._waiting.get(frame.tag)
        if waiting is None:
            log.warning("dropping a %s frame for tag %d: no command waits for it", frame.kind.name, frame.tag)
            return
        waiting.put(frame)

    def hang_up(self) -> None:
        """The host is gone: wake every command so it fails instead of waiting forever."""
        for waiting in list(self._waiting.values()):
            waiting.put(None)

    @property
    def tag(self) -> int:
        tag: int = self._tag.value
        return tag

    @tag.setter
    def tag(self, value: int) -> None:
        self._tag.value = value

    def relay(self, request: DoeRequest) -> bytes:
        """Send a DOE object through the host to the current command's device; its answer.

        Raises:
            TransportError: the host closed the mailbox.
            The error the host's transport raised (a TransportTimeout...), rebuilt.
        """
        tag = self.tag
        self.send(Frame(FrameKind.DOE_REQUEST, tag, encode_doe_request(request)))
        answer = self._waiting[tag].get()
        if answer is None:
            raise TransportError("the host closed the TSM mailbox")
        if answer.kind == FrameKind.DOE_RESPONSE:
            return answer.body
        raise error_from_report(decode_error(answer.body))


class _RelayTransport:
    """A DOE transport whose other end is the host's relay (``pci_tsm_doe_transfer``)."""

    def __init__(self, mailbox: _Mailbox) -> None:
        self._mailbox = mailbox

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Relay one DOE object; the host's transport waits ``timeout`` for the answer, as a native one."""
        return self._mailbox.relay(DoeRequest(request, timeout))

    def close(self) -> None:
        """The host owns the device's mailbox; nothing to release here."""


def _run(tsm: NativeTsm, mailbox: _Mailbox, tag: int, operation: Operation) -> DeviceInfo | TdiInfo:
    """Carry out one command."""
    mailbox.tag = tag

    def progress(step: str) -> None:
        mailbox.send(Frame(FrameKind.PROGRESS, tag, encode_answer(Stepped(step))))

    return perform(tsm, operation, lambda: _RelayTransport(mailbox), progress)


def _failed(tag: int, exc: Exception) -> Frame:
    """The FAILED frame reporting ``exc``: its class, message and every code field."""
    return Frame(FrameKind.FAILED, tag, encode_answer(Failed.of(exc)))


def _command(tsm: NativeTsm, mailbox: _Mailbox, frame: Frame) -> None:
    """Run one COMMAND frame to its RESULT or FAILED frame."""
    try:
        info = _run(tsm, mailbox, frame.tag, decode_operation(frame.body))
        mailbox.send(Frame(FrameKind.RESULT, frame.tag, encode_answer(Succeeded(info))))
    except Exception as exc:  # every failure goes back to the host, with its class and codes
        log.info("command %d failed: %s: %s", frame.tag, type(exc).__name__, exc)
        try:
            mailbox.send(_failed(frame.tag, exc))
        except TransportError:
            pass
    finally:
        mailbox.close(frame.tag)


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Serve the host until it closes the mailbox.

    Raises:
        DecodeError: the first frame is not a valid CONFIGURE, or a frame is malformed.
    """
    first = read_frame(inp)
    if first is None:
        return
    if first.kind != FrameKind.CONFIGURE:
        raise DecodeError(f"the first TSM frame must be CONFIGURE, not {first.kind.name}")
    mailbox = _Mailbox(out)
    try:
        tsm = NativeTsm(decode_config(first.body), name=PSP_NAME)
    except DevsecError as exc:
        mailbox.send(_failed(0, exc))
        raise
    mailbox.send(Frame(FrameKind.READY, 0))
    try:
        while (frame := read_frame(inp)) is not None:
            if frame.kind == FrameKind.COMMAND:
                mailbox.open(frame.tag)
                threading.Thread(target=_command, args=(tsm, mailbox, frame), daemon=True,
                                 name=f"tsm-command-{frame.tag}").start()
            elif frame.kind in (FrameKind.DOE_RESPONSE, FrameKind.DOE_FAILED):
                mailbox.deliver(frame)
            else:
                raise DecodeError(f"the host sent a {frame.kind.name} frame")
    finally:
        mailbox.hang_up()

