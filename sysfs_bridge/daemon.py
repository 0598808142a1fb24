"""The policy daemon: device events in, one admission per device, decisions carried out.

:class:`PolicyDaemon` reads a :class:`~sysfs_bridge.uevent.UeventSource` on
the calling thread and hands the work to a few worker threads, each running
:meth:`~sysfs_bridge.admission.Admission.perform` for one device at a time:

- PCI ``add``/``change`` -> admit the device; PCI ``remove`` -> forget it;
- the ``tsm`` class ``change`` (a TSM registered), or lost events (the
  socket's buffer overflowed) -> admit every device present (enumeration is
  pluggable: by default the kernel's ``bus/pci/devices``).

Coalescing: the daemon keeps at most one pending job per device, the latest
event's.  An ``add`` and a ``change`` queued for the same device are one
admission (authentication reads the device as it is when it runs, so a second
run would learn nothing new); a ``remove`` replaces a pending admission, and
an ``add`` after it replaces the ``remove``.  A job keeps its place in the
queue when it is replaced.  An event for a device that is being handled right
now is queued behind it (the device may have changed after its
authentication began), and one device is never handled by two workers at
once.  Devices are handled in the order their first pending event arrived;
with one worker that order is exact.

Concurrency: a slow or failing device ties up only its own worker (transport
timeouts bound how long); the others carry on.  Every decision is logged
by the admission as one JSON line.

Processes: the admissions' work is CPU-bound Python around the crypto, so
worker threads contend for the GIL (bench/bench_daemon.py, 120 devices: two
threads 1.30x one, four 1.11x; two forked processes with one worker each
2.02x).  With ``processes=N`` each worker thread hands its admission to one of
N forked processes and waits for the result; coalescing, ordering and the
counts stay in the daemon.  The processes are forked before any worker thread
starts, so no lock another thread holds is copied into them; a decision is
carried out in the process that made it.

Stopping: :meth:`PolicyDaemon.stop` (safe from a signal handler) ends the
loop within one poll interval; the jobs in progress are finished and the
pending ones dropped (a restart rescans).  When the source is exhausted
(:class:`~sysfs_bridge.uevent.UeventSourceClosed`) every pending job is
finished first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from spdm.errors import ConfigurationError, DecodeError
from spdm.record import record

from .admission import Admission
from .policy import Decision
from .read import list_devices
from .uevent import UeventsLost, UeventSource, UeventSourceClosed, Work, work_for

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["DaemonStats", "PolicyDaemon", "kernel_devices"]

_log = logging.getLogger(__name__)


def kernel_devices(sysfs: Path) -> Callable[[], list[str]]:
    """The PCI devices present: the addresses under ``<sysfs>/bus/pci/devices``."""
    return lambda: list_devices(sysfs)


@record(frozen=True, slots=True)
class DaemonStats:
    """What one run of the daemon did.

    Attributes:
        allowed / denied: decisions made.
        forgotten: ``forget`` jobs done.
        rescans: rescans of every device.
        failed: jobs that raised (logged with their traceback; nothing was acted on).
        dropped: pending jobs dropped by :meth:`PolicyDaemon.stop`.
    """

    allowed: int = 0
    denied: int = 0
    forgotten: int = 0
    rescans: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def decisions(self) -> int:
        """Decisions made, allowed or denied."""
        return self.allowed + self.denied


class PolicyDaemon:
    """Turns device events into admissions (see the module docstring)."""

    def __init__(
        self,
        source: UeventSource,
        admission: Admission,
        *,
        devices: Callable[[], Iterable[str]],
        workers: int = 4,
        poll_interval: float = 0.5,
        processes: int = 0,
    ) -> None:
        """Args:
            source: where events come from (the caller closes it).
            admission: what is done for one device.
            devices: the PCI addresses present, for rescans.
            workers: worker threads (at least 1).
            poll_interval: seconds between checks for :meth:`stop`.
            processes: forked processes the admissions run in (0: in the worker
                threads; see the module docstring).

        Raises:
            ConfigurationError: fewer than one worker, a poll interval that is not
                positive, or a negative number of processes.
        """
        if workers < 1 or not poll_interval > 0 or processes < 0:
            raise ConfigurationError("the daemon needs at least one worker, a positive poll interval "
                                     "and no negative number of processes")
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._source = source
        self._admission = admission
        self._devices = devices
        self._workers = workers
        self._poll = poll_interval
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._pending: dict[str, Literal["admit", "forget"]] = {}
        self._running: set[str] = set()
        self._finishing = False
        self._halting = False
        self._counts = {"allowed": 0, "denied": 0, "forgotten": 0, "rescans": 0, "failed": 0,
                        "dropped": 0}

    def submit(self, work: Work) -> None:
        """Queue work (coalesced per device; ``rescan`` expands to every device present).

        Thread-safe; not for signal handlers.
        """
        if work.kind == "rescan":
            bdfs = list(self._devices())
            _log.info("rescanning %d devices", len(bdfs))
            with self._cond:
                self._counts["rescans"] += 1
                for bdf in bdfs:
                    self._pending[bdf] = "admit"
                self._cond.notify_all()
            return
        with self._cond:
            self._pending[work.bdf] = work.kind
            self._cond.notify()

    def stop(self) -> None:
        """Ask :meth:`run` to return (finishing the jobs in progress); safe from a signal handler."""
        self._stop.set()

    def run(self) -> DaemonStats:
        """Read events and handle them until :meth:`stop` or the source is exhausted.

        Returns:
            What was done.

        Raises:
            TransportError: the source failed (the workers finish their jobs first).
        """
        if self._processes:
            # Fork now, while this is the only thread of ours: the children start from its state.
            # (The pool's modules load here: a udev hook, one device in process, never needs them.)
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_adopt, initargs=(self._admission,))
            self._pool.submit(_ready).result()
        threads = [threading.Thread(target=self._work, name=f"devsec-worker-{n}", daemon=True)
                   for n in range(self._workers)]
        for thread in threads:
            thread.start()
        exhausted = False
        try:
            exhausted = self._listen()
        finally:
            with self._cond:
                if exhausted and not self._stop.is_set():
                    self._finishing = True
                else:
                    self._halting = True
                    self._counts["dropped"] += len(self._pending)
                    self._pending.clear()
                self._cond.notify_all()
            for thread in threads:
                thread.join()
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        with self._cond:
            return DaemonStats(**self._counts)

    def _listen(self) -> bool:
        """The event loop; True when the source ran dry, False when stopped."""
        while not self._stop.is_set():
            try:
                event = self._source.receive(self._poll)
            except UeventsLost as exc:
                _log.warning("%s: rescanning every device", exc)
                self.submit(Work("rescan"))
                continue
            except UeventSourceClosed:
                return True
            if event is None:
                continue
            try:
                work = work_for(event)
            except DecodeError as exc:
                _log.warning("ignored a malformed event: %s", exc)
                continue
            if work is not None:
                self.submit(work)
        return False

    def _take(self) -> tuple[str, Literal["admit", "forget"]] | None:
        """The oldest pending job whose device no worker holds (call with the lock held)."""
        for bdf, kind in self._pending.items():
            if bdf not in self._running:
                del self._pending[bdf]
                self._running.add(bdf)
                return bdf, kind
        return None

    def _next_job(self) -> tuple[str, Literal["admit", "forget"]] | None:
        """Block until there is a job for this worker; None when it should exit."""
        with self._cond:
            # A stop takes effect here at once, not when the listener next wakes:
            # a worker that just finished must not start a job stop() dropped.
            while not self._halting and not self._stop.is_set():
                job = self._take()
                if job is not None:
                    return job
                if self._finishing and not self._pending:
                    return None
                self._cond.wait()
            return None

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            bdf, kind = job
            counter = "failed"
            try:
                work = Work(kind, bdf)
                decision = (self._pool.submit(_perform, work).result() if self._pool is not None
                            else self._admission.perform(work))
                counter = "forgotten" if decision is None else "allowed" if decision.allow else "denied"
            except Exception:
                _log.exception("%s: %s failed; nothing was acted on", bdf, kind)
            finally:
                with self._cond:
                    self._counts[counter] += 1
                    self._running.discard(bdf)
                    self._cond.notify_all()


_CHILD_ADMISSION: Admission | None = None
"""The admission a forked daemon process performs (set once, by :func:`_adopt`)."""


def _adopt(admission: Admission) -> None:
    global _CHILD_ADMISSION
    _CHILD_ADMISSION = admission


def _ready() -> bool:
    return _CHILD_ADMISSION is not None


def _perform(work: Work) -> Decision | None:
    assert _CHILD_ADMISSION is not None
    return _CHILD_ADMISSION.perform(work)
