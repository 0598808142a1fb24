"""Serving an emulated device over the spdm-emu socket protocol until it is told to stop.

:class:`~spdm.transport.EmuSocketServer` serves on whatever thread calls
``serve_forever``; a program that also wants its signals (Ctrl-C, SIGTERM)
must keep its main thread free, so :func:`serve` runs the server on a worker
thread and waits for it in short slices.  :func:`serving` serves in the
background for as long as a ``with`` block runs (tests, examples).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from spdm.transport import EmuSocketServer

from .spdm_device import EmulatedDevice

__all__ = ["serve", "serving"]

_POLL = 0.2
"""Seconds between checks that the server still runs (how late a signal handler runs at most)."""


def serve(server: EmuSocketServer) -> None:
    """Serve until a client sends SHUTDOWN, ``server.stop()`` is called (a signal handler), or Ctrl-C.

    The server is closed on return.
    """
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(_POLL)
    except KeyboardInterrupt:
        server.stop()
        worker.join()
    finally:
        server.close()


@contextmanager
def serving(device: EmulatedDevice, host: str = "127.0.0.1", port: int = 0, *,
            binding: str = "doe") -> Iterator[str]:
    """Serve ``device`` on a background thread while the block runs; yields its ``tcp://`` target.

    Args:
        device: the emulated device.
        host: the address to listen on.
        port: the TCP port (0: a free one).
        binding: what the frames carry (:meth:`EmulatedDevice.server`).

    Raises:
        ConfigurationError: see :meth:`EmulatedDevice.server`.
        TransportError: the address cannot be bound.
    """
    server = device.server(host, port, binding=binding)
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    try:
        bound_host, bound_port = server.address
        yield f"tcp://[{bound_host}]:{bound_port}" if ":" in bound_host else f"tcp://{bound_host}:{bound_port}"
    finally:
        server.stop()
        worker.join()
        server.close()
