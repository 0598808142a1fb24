"""The requester provisioning and chunk cases (requester.provision, requester.chunk): devsec's requesters
pass them (``devsec provision csr`` / ``install``, ``devsec connect`` taking responses in chunks, the
library sending a chain in chunks), and each broken requester (``provision_requester.py``) is caught."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance.context import Exchange
from devsec.conformance.requester import RequesterRun, catalogue
from devsec.conformance.requester.chunking import whole_requests
from spdm.messages import ChunkSend, ChunkSendAck
from spdm.messages.chunk import CHUNK_LAST
from spdm.messages.codes import RequestCode, ResponseCode

from .provision_requester import CAUGHT_BY

SCRIPT = Path(__file__).with_name("provision_requester.py")
PYTHON = shlex.quote(sys.executable)
DEVSEC = f"{PYTHON} -m devsec"
CSR = f"{DEVSEC} provision csr tcp://{{host}}:{{port}}"
INSTALL = f"{DEVSEC} provision install tcp://{{host}}:{{port}} --slot 1 --chain {{chain}}"
CHUNKED_CONNECT = (f"{DEVSEC} connect tcp://{{host}}:{{port}} --trust-root {{root}} "
                   "--data-transfer-size 0x100 --max-spdm-msg-size 0x10000 --cert-portion 0xffff")
Case = dict[str, object]


def _serve(command: str, report: Path, *cases: str) -> tuple[int, list[Case]]:
    selection = [arg for c in cases for arg in ("--case", c)]
    status = main(["conformance", "serve", "--requester-cmd", command, *selection, "--json", str(report)])
    found: list[Case] = json.loads(report.read_text())["cases"]
    return status, found


def _verdicts(cases: list[Case]) -> dict[str, str]:
    return {str(c["id"]): str(c["verdict"]) for c in cases}


def test_every_broken_requester_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    assert set(CAUGHT_BY.values()) <= ids
    new = {i for i in ids if i.startswith("requester.provision.")} | {
        "requester.chunk.send", "requester.chunk.get", "requester.chunk.wrong-handle",
        "requester.chunk.oversize-large-message", "requester.chunk.short-message"}
    assert new == set(CAUGHT_BY.values())


def test_devsec_provision_csr_passes_the_csr_cases(tmp_path: Path) -> None:
    status, cases = _serve(CSR, tmp_path / "report.json", "requester.provision")
    assert status == 0
    assert _verdicts(cases) == {
        "requester.provision.get-csr": "pass", "requester.provision.set-certificate": "skip",
        "requester.provision.without-cap": "pass", "requester.provision.csr-length-lies": "pass",
        "requester.provision.csr-not-pkcs10": "pass", "requester.provision.csr-bad-signature": "pass",
        "requester.provision.set-certificate-other-slot": "skip",
        "requester.provision.reset-required": "pass"}


def test_devsec_provision_install_passes_the_install_cases(tmp_path: Path) -> None:
    status, cases = _serve(INSTALL, tmp_path / "report.json", "requester.provision.set-certificate*",
                           "requester.provision.without-cap", "requester.chunk.send")
    assert status == 0
    verdicts = _verdicts(cases)
    assert verdicts == {"requester.provision.set-certificate": "pass",
                        "requester.provision.set-certificate-other-slot": "pass",
                        "requester.provision.without-cap": "pass",
                        # devsec provision offers CHUNK_CAP: the chain goes by CHUNK_SEND
                        "requester.chunk.send": "pass"}


def test_devsec_sends_a_large_chain_in_chunks(tmp_path: Path) -> None:
    command = f"{PYTHON} {shlex.quote(str(SCRIPT))} install-chunked {{port}} {{chain}}"
    status, [case] = _serve(command, tmp_path / "report.json", "requester.chunk.send")
    assert (status, case["verdict"]) == (0, "pass"), case


def test_devsec_connect_passes_the_chunk_fetch_cases(tmp_path: Path) -> None:
    status, cases = _serve(CHUNKED_CONNECT, tmp_path / "report.json", "requester.chunk.get",
                           "requester.chunk.wrong-handle", "requester.chunk.oversize-large-message",
                           "requester.chunk.short-message")
    assert status == 0
    assert set(_verdicts(cases).values()) == {"pass"}


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_the_broken_requester_is_caught_by_its_case(fault: str, tmp_path: Path) -> None:
    command = f"{PYTHON} {shlex.quote(str(SCRIPT))} {fault} {{port}} {{chain}}"
    status, [case] = _serve(command, tmp_path / "report.json", CAUGHT_BY[fault])
    assert status == 1 and case["verdict"] == "fail", case
    assertions = case["assertions"]
    assert isinstance(assertions, list)
    failed = [a for a in assertions if not a["passed"]]
    assert failed and all(str(a["reference"]).startswith("DSP0274") for a in failed)


def test_whole_requests_reassembles_a_chunked_request_with_the_response_to_it() -> None:
    large = bytes([0x13, RequestCode.SET_CERTIFICATE, 1, 0]) + bytes(range(256)) * 3
    pieces = [large[:300], large[300:600], large[600:]]
    answer = bytes([0x13, ResponseCode.SET_CERTIFICATE_RSP, 1, 0])
    exchanges = [Exchange(bytes([0x13, RequestCode.GET_VERSION, 0, 0]), b"version")]
    for seq_no, piece in enumerate(pieces):
        last = seq_no == len(pieces) - 1
        chunk = ChunkSend(spdm_version=0x13, attributes=CHUNK_LAST if last else 0, handle=7,
                          chunk_seq_no=seq_no, large_message_size=len(large) if not seq_no else None,
                          chunk=piece)
        ack = ChunkSendAck(spdm_version=0x13, handle=7, chunk_seq_no=seq_no, response=answer if last else b"")
        exchanges.append(Exchange(chunk.encode(), ack.encode() + b"\0\0"))
    run = RequesterRun(0, tuple(exchanges), "")
    assert list(whole_requests(run)) == [exchanges[0], Exchange(large, answer + b"\0\0")]
