"""``devsec conformance serve`` judging devsec's TSM backends as requesters: every case passes or is skipped.

Each case run is one operator command, ``devsec tsm connect TARGET --backend B``
(which starts a TSM service of that backend, authenticates the device, opens
the session and programs IDE keys), followed by ``devsec tsm stop``: the very
commands an operator types, so the backend runs end to end in its own
processes.  A TSM keeps its session for later binds, so it does no key update
(``requester.session.key-update`` and ``requester.key-update.wrong-tag`` are
skipped, saying so).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance.requester import catalogue

NO_KEY_UPDATE = frozenset({"requester.session.key-update", "requester.key-update.wrong-tag"})
"""The cases a TSM does not reach: it never updates its session's keys during connect."""
NOT_EVIDENCE = frozenset({"requester.key-pairs.not-echoed", "requester.key-pairs.total-below-id",
                          "requester.chunk.wrong-sequence"})
"""Nor these: key pairs are no evidence (tsm.endpoint reads only the signed ENDPOINT_INFO and the
MEL), and it takes every response whole."""
NOT_ITS_JOB = frozenset({c.id for c in catalogue() if c.group in ("requester.chunk", "requester.provision")
                         and c.id != "requester.provision.without-cap"} | {
    "requester.events.ack", "requester.events.count-lies", "requester.events.detail-overrun"})
"""Nor these: it provisions nothing, subscribes to no event, sends nothing large, and takes every
response whole (it passes requester.provision.without-cap: it sends no GET_CSR)."""


def _tsm_connect(backend: str, scratch: Path) -> str:
    """The requester command: connect through a fresh service of ``backend``, then stop it."""
    devsec = f"{shlex.quote(sys.executable)} -m devsec tsm"
    socket = shlex.quote(str(scratch / "tsm-{port}.sock"))
    script = (f"{devsec} connect tcp://{{host}}:{{port}} --backend {backend} --trust-root {{root}} "
              f"--socket {socket}; status=$?; {devsec} stop --socket {socket} >/dev/null 2>&1; exit $status")
    return f"sh -c {shlex.quote(script)}"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["native", "psp-proxy"])
def test_the_tsm_backend_passes_every_requester_case(backend: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    status = main(["conformance", "serve", "--requester-cmd", _tsm_connect(backend, tmp_path),
                   "--timeout", "30", "--json", str(report)])
    document = json.loads(report.read_text())
    verdicts = {c["id"]: c["verdict"] for c in document["cases"]}
    assert status == 0, [c for c in document["cases"] if c["verdict"] in ("fail", "error")]
    skips = NO_KEY_UPDATE | NOT_EVIDENCE | NOT_ITS_JOB
    assert verdicts == {c.id: "skip" if c.id in skips else "pass" for c in catalogue()}
    skipped = [c for c in document["cases"] if c["verdict"] == "skip"]
    assert all("key update" in c["reason"] or "never sent" in c["reason"] for c in skipped)
