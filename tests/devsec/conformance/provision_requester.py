"""Provisioning and chunk-sending requesters for the requester conformance tests: devsec's, and broken ones.

Run as ``python provision_requester.py MODE PORT CHAIN``.  ``install-chunked``
is devsec's requester (the library: VCA offering CHUNK_CAP, then
SET_CERTIFICATE of the PEM chain in CHAIN to slot 1, chunked as the device's
DataTransferSize needs); every other mode breaks one rule and reports
success (exit status 0) where a conformant requester would fail or never
send what it sends: :data:`CAUGHT_BY` names the case that must catch it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from devsec.conformance.requests import get_capabilities, negotiate_algorithms
from spdm.config import DEFAULT_REQUESTER_CAPS, RequesterConfig
from spdm.crypto import build_spdm_cert_chain, digest, load_certificates, load_csr
from spdm.driver import RequesterDriver
from spdm.errors import DecodeError
from spdm.messages import (
    ChunkGet,
    ChunkSend,
    ErrorResponse,
    GetCertificate,
    GetCsr,
    GetDigests,
    GetVersion,
    Message,
    SetCertificate,
)
from spdm.messages.chunk import CHUNK_LAST
from spdm.messages.codes import BaseHashAlgo, CapabilityFlags, RequestCode
from spdm.requester import Requester
from spdm.transport import EmuSocketClient
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

CAUGHT_BY = {
    "csr-info-length-lies": "requester.provision.get-csr",
    "csr-key-pair-1": "requester.provision.get-csr",
    "csr-without-cap": "requester.provision.without-cap",
    "set-cert-slot-9": "requester.provision.set-certificate",
    "set-cert-erase-at-12": "requester.provision.set-certificate",
    "set-cert-bad-root-hash": "requester.provision.set-certificate",
    "csr-any-length": "requester.provision.csr-length-lies",
    "csr-unparsed": "requester.provision.csr-not-pkcs10",
    "csr-unverified": "requester.provision.csr-bad-signature",
    "set-cert-any-slot": "requester.provision.set-certificate-other-slot",
    "csr-retry-untagged": "requester.provision.reset-required",
    "set-cert-whole": "requester.chunk.send",
    "chunk-send-gap": "requester.chunk.send",
    "chunk-get-gap": "requester.chunk.get",
    "chunk-any-handle": "requester.chunk.wrong-handle",
    "chunk-any-size": "requester.chunk.oversize-large-message",
    "chunk-any-total": "requester.chunk.short-message",
}
"""Each broken requester -> the case that must catch it."""

HASH = BaseHashAlgo.SHA_384
"""The hash devsec's offer leads to on the case device (its NEGOTIATE_ALGORITHMS prefers SHA-384)."""

_CSR = 8
_TRANSFER_SIZE = 0x200


class _Wire:
    """Raw SPDM requests over the spdm-emu socket."""

    def __init__(self, port: int) -> None:
        self.client = EmuSocketClient("127.0.0.1", port, timeout=5.0)

    def send(self, message: Message | bytes) -> bytes:
        data = message if isinstance(message, bytes) else message.encode()
        answer = self.client.exchange(encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM,
                                                                    data)))
        return decode_data_object(answer).payload

    def vca(self, version: int = 0x13, *, chunk: bool = False, transfer_size: int | None = None) -> None:
        self.send(GetVersion())
        ours = get_capabilities(version)
        if chunk:
            ours = replace(ours, flags=ours.flags | int(CapabilityFlags.CHUNK_CAP))
        if transfer_size is not None:
            ours = replace(ours, data_transfer_size=transfer_size, max_spdm_msg_size=0x10000)
        self.send(ours)
        self.send(negotiate_algorithms(version))


def _chain(path: Path) -> bytes:
    return build_spdm_cert_chain(load_certificates(path.read_bytes()), HASH)


def _install_chunked(port: int, chain_file: Path) -> int:
    """devsec's requester: SET_CERTIFICATE in chunks when the chain exceeds the device's DataTransferSize."""
    client = EmuSocketClient("127.0.0.1", port, timeout=5.0)
    try:
        requester = Requester(RequesterConfig(capabilities=DEFAULT_REQUESTER_CAPS | CapabilityFlags.CHUNK_CAP,
                                              max_spdm_msg_size=0x10000))
        driver = RequesterDriver(client, requester)
        for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
            driver.run(command)
        assert requester.negotiated is not None
        chain = build_spdm_cert_chain(load_certificates(chain_file.read_bytes()),
                                      requester.negotiated.hash_alg)
        driver.run(lambda: requester.set_certificate(1, chain))
    finally:
        client.close()
    return 0


def _csr_mode(wire: _Wire, mode: str) -> None:
    if mode == "csr-info-length-lies":
        wire.vca()
        # RequesterInfoLength 8 with no RequesterInfo: the lengths do not match the message.
        wire.send(bytes([0x13, RequestCode.GET_CSR, 0, 0, 8, 0, 0, 0]))
        return
    if mode == "csr-retry-untagged":
        wire.vca()
        for _ in range(4):  # on ResetRequired, asks for a new CSR again (tag 0) and again
            wire.send(GetCsr(spdm_version=0x13))
        return
    wire.vca()
    answer = wire.send(GetCsr(spdm_version=0x13, key_pair_id=1 if mode == "csr-key-pair-1" else 0))
    if mode == "csr-unverified":  # parsed, its signature never checked
        load_csr(answer[_CSR:_CSR + int.from_bytes(answer[4:6], "little")])


def _set_cert_mode(wire: _Wire, mode: str, chain_file: Path) -> None:
    version = 0x12 if mode == "set-cert-erase-at-12" else 0x13
    wire.vca(version)
    chain = _chain(chain_file)
    if mode == "set-cert-slot-9":
        wire.send(SetCertificate(spdm_version=version, attributes=9, cert_chain=chain))
    elif mode == "set-cert-erase-at-12":
        wire.send(bytes([version, RequestCode.SET_CERTIFICATE, 0x81, 0]))
    elif mode == "set-cert-bad-root-hash":
        broken = chain[:4] + bytes(len(digest(HASH, b""))) + chain[4 + len(digest(HASH, b"")):]
        wire.send(SetCertificate(spdm_version=version, attributes=1, cert_chain=broken))
    else:  # set-cert-any-slot, set-cert-whole: whatever comes back is taken as success
        wire.send(SetCertificate(spdm_version=version, attributes=1, cert_chain=chain))


def _chunk_send_gap(wire: _Wire, chain_file: Path) -> None:
    wire.vca(chunk=True)
    request = SetCertificate(spdm_version=0x13, attributes=1, cert_chain=_chain(chain_file)).encode()
    pieces = [request[i:i + 0x100] for i in range(0, len(request), 0x100)]
    for seq_no, piece in enumerate(pieces):
        if seq_no == 1:
            continue  # the second chunk is never sent
        wire.send(ChunkSend(spdm_version=0x13, attributes=CHUNK_LAST if seq_no == len(pieces) - 1 else 0,
                            handle=1, chunk_seq_no=seq_no,
                            large_message_size=len(request) if seq_no == 0 else None, chunk=piece))


def _chunk_get_mode(wire: _Wire, mode: str) -> None:
    wire.vca(chunk=True, transfer_size=0x100)
    wire.send(GetDigests(spdm_version=0x13))
    try:
        error = ErrorResponse.decode(wire.send(GetCertificate(spdm_version=0x13, length=0xFFFF)), padded=True)
    except DecodeError:
        return
    handle = error.large_response_handle or 0
    for seq_no in range(64):
        if mode == "chunk-get-gap" and seq_no == 1:
            continue  # chunk 1 is never asked for
        answer = wire.send(ChunkGet(spdm_version=0x13, handle=handle, chunk_seq_no=seq_no))
        if len(answer) < 3 or answer[1] != 0x06 or answer[2] & CHUNK_LAST:
            return


def run(mode: str, port: int, chain_file: Path) -> int:
    """Run the requester ``mode`` against the device on ``port``; returns its exit status."""
    if mode == "install-chunked":
        return _install_chunked(port, chain_file)
    wire = _Wire(port)
    try:
        if mode.startswith("csr-") and mode != "csr-without-cap":
            _csr_mode(wire, mode)
        elif mode == "csr-without-cap":
            wire.vca()
            wire.send(GetCsr(spdm_version=0x13))
        elif mode.startswith("set-cert-"):
            _set_cert_mode(wire, mode, chain_file)
        elif mode == "chunk-send-gap":
            _chunk_send_gap(wire, chain_file)
        else:
            _chunk_get_mode(wire, mode)
    except (DecodeError, ValueError):
        pass  # a broken requester takes whatever it got as success
    finally:
        wire.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
