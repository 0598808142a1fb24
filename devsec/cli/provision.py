"""devsec provision: take a blank device to a provisioned one (GET_CSR, a CA's leaf, SET_CERTIFICATE).

"csr" asks the device for a PKCS#10 request of its key pair, "sign" has a CA
issue the SPDM leaf for it (the extensions PROTOCOLS.md section 10.3 asks
for), "install" writes a chain into a slot.  Afterwards "devsec connect
--trust-root CA" verifies the device against the CA's root.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from spdm.config import RequesterConfig
from spdm.crypto import (
    Certificate,
    build_spdm_cert_chain,
    issue_leaf_from_csr,
    load_certificates,
    load_csr,
    load_private_key_pem,
)
from spdm.driver import RequesterDriver
from spdm.errors import ConfigurationError, DevsecError, RemoteErrorResponse, SpdmErrorCode
from spdm.events import CertificateInstalled, CsrReceived
from spdm.messages.codes import CapabilityFlags
from spdm.requester import Requester
from spdm.transport import DoeTransport
from spdm.transport.targets import open_transport

from .args import Subparsers, force_flag, read

__all__ = ["add_parser"]


def _connected(transport: DoeTransport) -> tuple[Requester, RequesterDriver]:
    """VCA with the device; provisioning needs no trust anchor (nothing is verified yet).

    The requester offers CHUNK_CAP: a chain larger than the device's
    DataTransferSize can only reach it by CHUNK_SEND (when the device has
    CHUNK_CAP too; otherwise the requester refuses it locally, saying so).
    """
    config = RequesterConfig()
    requester = Requester(replace(config, capabilities=config.capabilities | CapabilityFlags.CHUNK_CAP))
    driver = RequesterDriver(transport, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return requester, driver


def _reset_hint(exc: RemoteErrorResponse) -> DevsecError:
    """ResetRequired is not a failure but a step: say what to do next."""
    if exc.code == SpdmErrorCode.RESET_REQUIRED:
        return DevsecError(f"the device needs a reset to complete this; afterwards ask again"
                           f"{' with --tracking-tag ' + str(exc.data) if exc.data else ''}")
    return exc


def _write(path: str | None, data: bytes, what: str) -> None:
    if path:
        Path(path).write_bytes(data)
        print(f"{what} written to {path}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("ascii"))


def _csr(args: argparse.Namespace) -> int:
    with open_transport(args.target, force=args.force) as transport:
        requester, driver = _connected(transport)
        try:
            events = driver.run(lambda: requester.get_csr(key_pair_id=args.key_pair_id,
                                                          tracking_tag=args.tracking_tag))
        except RemoteErrorResponse as exc:
            raise _reset_hint(exc) from exc
    (received,) = [e for e in events if isinstance(e, CsrReceived)]
    received.csr.verify()
    _write(args.output, received.csr.to_pem(), "CSR")
    return 0


def _sign(args: argparse.Namespace) -> int:
    csr = load_csr(read(args.csr, "CSR"))
    ca = _one_certificate(args.ca_cert)
    ca_key = load_private_key_pem(read(args.ca_key, "CA key"))
    leaf = issue_leaf_from_csr(csr, ca, ca_key, valid_days=args.days)
    _write(args.output, leaf.to_pem(), "leaf certificate")
    return 0


def _one_certificate(path: str) -> Certificate:
    certificates = load_certificates(read(path, "CA certificate"))
    if len(certificates) != 1:
        raise ConfigurationError(f"{path}: expected one CA certificate, found {len(certificates)}")
    return certificates[0]


def _install(args: argparse.Namespace) -> int:
    certificates = load_certificates(read(args.chain, "chain"))
    with open_transport(args.target, force=args.force) as transport:
        requester, driver = _connected(transport)
        assert requester.negotiated is not None
        chain = build_spdm_cert_chain(certificates, requester.negotiated.hash_alg)
        try:
            events = driver.run(lambda: requester.set_certificate(args.slot, chain,
                                                                  key_pair_id=args.key_pair_id))
        except RemoteErrorResponse as exc:
            raise _reset_hint(exc) from exc
    (installed,) = [e for e in events if isinstance(e, CertificateInstalled)]
    print(f"slot {installed.slot_id} provisioned with {len(certificates)} certificate(s)")
    return 0


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec provision`` and its ``csr``, ``sign`` and ``install`` commands."""
    p = sub.add_parser("provision", help="provision a device's certificate slots (CSR, sign, install)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")
    csr = steps.add_parser("csr", help="ask the device for a CSR of its key pair (GET_CSR)")
    csr.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    csr.add_argument("--slot", type=int, default=0,
                     help="the slot the certificate is for (informational: the CSR names a key pair)")
    csr.add_argument("--key-pair-id", type=int, default=0, help="KeyPairID (SPDM 1.3, multi-key; default 0)")
    csr.add_argument("--tracking-tag", type=int, default=0,
                     help="after a reset the device asked for: the CSRTrackingTag it gave")
    csr.add_argument("-o", "--output", metavar="FILE", help="write the CSR (PEM) here, not to stdout")
    force_flag(csr)
    csr.set_defaults(func=_csr)
    sign = steps.add_parser("sign", help="issue the SPDM leaf certificate for a CSR")
    sign.add_argument("csr", help="the CSR, PEM or DER")
    sign.add_argument("--ca-cert", required=True, metavar="FILE", help="the issuing CA's certificate")
    sign.add_argument("--ca-key", required=True, metavar="FILE", help="the CA's PEM private key")
    sign.add_argument("--days", type=int, default=3650, help="validity in days (default %(default)s)")
    sign.add_argument("-o", "--output", metavar="FILE", help="write the leaf (PEM) here, not to stdout")
    sign.set_defaults(func=_sign)
    install = steps.add_parser("install", help="install a certificate chain in a slot (SET_CERTIFICATE)")
    install.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    install.add_argument("--slot", type=int, required=True, help="the slot (0-7)")
    install.add_argument("--chain", required=True, metavar="FILE",
                         help="the chain, root first and the device's leaf last (PEM bundle or DER)")
    install.add_argument("--key-pair-id", type=int, default=0,
                         help="KeyPairID (SPDM 1.3, multi-key; default 0)")
    force_flag(install)
    install.set_defaults(func=_install)
