"""Requester commands for device provisioning: GET_CSR and SET_CERTIFICATE (DSP0274 1.2, 1.3 fields).

A vendor takes a blank device to a provisioned one with these: ask it for a
CSR of a key pair (:meth:`ProvisionCommands.get_csr`), have a CA issue the leaf
(:func:`spdm.crypto.issue_leaf_from_csr`), install the chain in a slot
(:meth:`ProvisionCommands.set_certificate`).  An ERROR ResetRequired is not
retried: it ends the request as :class:`~spdm.events.ErrorResponseReceived`
(which :class:`spdm.driver.RequesterDriver` raises as ``RemoteErrorResponse``)
whose error data is the CSRTrackingTag to ask again with after the reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..crypto import load_csr
from ..errors import LocalProtocolError, RemoteProtocolError
from ..messages.codes import CERT_MODEL_NONE, CapabilityFlags, RequestCode, SpdmVersion
from .encap import EncapCommands

if TYPE_CHECKING:
    from ..messages.provision import Csr, GetCsr, SetCertificate, SetCertificateRsp

__all__ = ["ProvisionCommands"]


class ProvisionCommands(EncapCommands):
    """GET_CSR and SET_CERTIFICATE."""

    def get_csr(self, *, key_pair_id: int = 0, cert_model: int = CERT_MODEL_NONE,
                tracking_tag: int = 0, overwrite: bool = False, requester_info: bytes = b"",
                opaque_data: bytes = b"", session_id: int | None = None) -> None:
        """Queue GET_CSR.

        Args:
            key_pair_id: the key pair (1.3, MULTI_KEY_CONN; 0 otherwise).
            cert_model: the certificate model the CSR is for (1.3, MULTI_KEY_CONN).
            tracking_tag: 0 for a new CSR, else the tag a ResetRequired gave (1.3).
            overwrite: discard the device's pending CSRs (1.3).
            requester_info: a DER CertificationRequestInfo the device may use.
            opaque_data: OpaqueData, in the negotiated format.
            session_id: send inside this established session.

        Raises:
            LocalProtocolError: not allowed now, no CSR_CAP, 1.3 fields on an
                older connection, or a field out of range.
        """
        from ..messages.provision import GetCsr, csr_request_attributes
        negotiated = self._need_negotiated(RequestCode.GET_CSR)
        self._need_caps(negotiated, CapabilityFlags.CSR_CAP, "GET_CSR")
        if negotiated.version < SpdmVersion.V12:
            raise LocalProtocolError("GET_CSR exists from SPDM 1.2")
        if negotiated.version < SpdmVersion.V13 and (key_pair_id or cert_model or tracking_tag or overwrite):
            raise LocalProtocolError("KeyPairID, CertModel, CSRTrackingTag and Overwrite are SPDM 1.3 fields")
        if not 0 <= key_pair_id <= 0xFF:
            raise LocalProtocolError(f"KeyPairID {key_pair_id} is not a byte")
        try:
            attributes = csr_request_attributes(cert_model, tracking_tag, overwrite=overwrite)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from exc
        self._send(GetCsr(spdm_version=negotiated.version, key_pair_id=key_pair_id, attributes=attributes,
                          requester_info=requester_info, opaque_data=opaque_data),
                   session=self._established_session(session_id))

    def set_certificate(self, slot_id: int, cert_chain: bytes | None, *, key_pair_id: int = 0,
                        cert_model: int = CERT_MODEL_NONE, session_id: int | None = None) -> None:
        """Queue SET_CERTIFICATE: install an SPDM certificate chain in a slot, or erase it.

        Args:
            slot_id: 0-7.
            cert_chain: the whole SPDM chain (Length, Reserved, RootHash,
                certificates; see :func:`spdm.crypto.build_spdm_cert_chain`), or
                None to erase the slot (1.3).
            key_pair_id: the key pair the chain certifies (1.3, MULTI_KEY_CONN).
            cert_model: the chain's certificate model (1.3, MULTI_KEY_CONN).
            session_id: send inside this established session.

        Raises:
            LocalProtocolError: not allowed now, no SET_CERT_CAP, a bad slot, 1.3
                fields on an older connection, or a chain that does not fit one message.
        """
        from ..messages.provision import SetCertificate, set_certificate_attributes
        negotiated = self._need_negotiated(RequestCode.SET_CERTIFICATE)
        self._need_caps(negotiated, CapabilityFlags.SET_CERT_CAP, "SET_CERTIFICATE")
        if negotiated.version < SpdmVersion.V12:
            raise LocalProtocolError("SET_CERTIFICATE exists from SPDM 1.2")
        erase = cert_chain is None
        if negotiated.version < SpdmVersion.V13 and (key_pair_id or cert_model or erase):
            raise LocalProtocolError("KeyPairID, CertModel and Erase are SPDM 1.3 fields")
        if not 0 <= slot_id <= 7 or not 0 <= key_pair_id <= 0xFF:
            raise LocalProtocolError(f"slot {slot_id} / KeyPairID {key_pair_id} out of range")
        try:
            attributes = set_certificate_attributes(slot_id, cert_model, erase=erase)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from exc
        self._send(SetCertificate(spdm_version=negotiated.version, attributes=attributes,
                                  key_pair_id=key_pair_id, cert_chain=cert_chain),
                   session=self._established_session(session_id))

    # ------------------------------------------------------------------ response handlers

    def _on_csr(self, request: GetCsr, response: Csr) -> None:
        from ..events import CsrReceived
        csr = load_csr(response.csr)  # DecodeError: not a PKCS#10 request
        self._events.append(CsrReceived(request.key_pair_id, response.csr, csr))

    def _on_set_certificate_rsp(self, request: SetCertificate, response: SetCertificateRsp) -> None:
        from ..events import CertificateInstalled
        if response.slot_id != request.slot_id:
            raise RemoteProtocolError(
                f"SET_CERTIFICATE_RSP names slot {response.slot_id}, slot {request.slot_id} was written")
        # What was retrieved from that slot before is no longer what it holds.
        self.chains.pop(request.slot_id, None)
        self._events.append(CertificateInstalled(request.slot_id, erased=request.erase))
