"""Responder side of device provisioning: GET_CSR and SET_CERTIFICATE (DSP0274 1.2, 1.3 extensions).

The protocol rules live here, what the device holds in its backend
(:class:`spdm.provisioning.ProvisioningBackend`).  Refusals follow libspdm's
responder (``libspdm_rsp_csr.c``, ``libspdm_rsp_set_certificate.c``) where it
is specific:

* a backend that cannot provision, like a device that does not advertise
  CSR_CAP / SET_CERT_CAP, answers UnsupportedRequest;
* 1.3 GET_CSR: Overwrite with a CSRTrackingTag, a KeyPairID of 0 or a
  CertModel outside DEVICE..GENERIC on a MULTI_KEY_CONN connection, or a
  KeyPairID / CertModel at all without it, are InvalidRequest; so is
  OpaqueData when no opaque data format was negotiated;
* SET_CERTIFICATE: a SlotID past 7 is InvalidRequest.

Decided: a chain that is malformed, whose RootHash is wrong, or that breaks
the SPDM certificate rules (PROTOCOLS.md §10.3, checked with the chain's own
root as the trust anchor, at the responder's clock, the leaf for the
negotiated BaseAsymAlgo and the responder role) is InvalidRequest -- the
request is what is wrong; libspdm 2022 answered Unspecified for a chain that
fails its checks.  A leaf that does not hold the device's key pair is
InvalidRequest too (the backend says so).  Both requests are served in the
clear and inside a session, as the reference does (GET_CSR and
SET_CERTIFICATE slot 0 in the clear, slot 4 inside, in
``spdm13-p384-csr-setcert``); neither enters a transcript.
"""

from __future__ import annotations

import logging

from ..crypto import parse_spdm_cert_chain, validate_cert_chain
from ..errors import ConfigurationError, DecodeError, LocalProtocolError, VerificationError
from ..messages.codes import CERT_MODEL_GENERIC, CERT_MODEL_NONE, RequestCode, SpdmVersion
from ..messages.provision import Csr, GetCsr, SetCertificate, SetCertificateRsp
from ..provisioning import ProvisioningBackend
from ..slots import SLOT_COUNT
from ._connection import Connection, invalid_request, unsupported_request
from .event import certificate_changed

__all__ = ["get_csr", "set_certificate"]

logger = logging.getLogger(__name__)

_OPAQUE_FORMATS = 0x0F
"""OtherParamsSelection b3:0: the opaque data format (none when 0)."""


def _backend(conn: Connection, code: int) -> ProvisioningBackend:
    backend = conn.backend
    if not isinstance(backend, ProvisioningBackend):
        raise unsupported_request(code, "this device cannot be provisioned")
    return backend


def _check_key_pair_fields(conn: Connection, key_pair_id: int, cert_model: int, *,
                           model_required: bool) -> None:
    """The 1.3 KeyPairID / CertModel rules (the fields are reserved before 1.3).

    Raises:
        RemoteProtocolError: InvalidRequest (see the module docstring).
    """
    if conn.session.multi_key:
        if key_pair_id == 0:
            raise invalid_request("KeyPairID 0 on a MULTI_KEY_CONN connection")
        if model_required and not CERT_MODEL_NONE < cert_model <= CERT_MODEL_GENERIC:
            raise invalid_request(f"CertModel {cert_model} is not DEVICE, ALIAS or GENERIC")
    elif key_pair_id or cert_model:
        raise invalid_request("KeyPairID / CertModel without MULTI_KEY_CONN")


def get_csr(conn: Connection, request: GetCsr) -> bytes:
    """Answer CSR: the device's PKCS#10 request for a key pair.

    Raises:
        RemoteProtocolError: UnsupportedRequest (no provisioning backend),
            InvalidRequest (the rules above, malformed RequesterInfo),
            ResetRequired or Busy from the device, ResponseTooLarge.
        LocalProtocolError: the device cannot sign a CSR (Unspecified).
    """
    backend = _backend(conn, RequestCode.GET_CSR)
    negotiated = conn.session
    key_pair_id = tag = 0
    overwrite = False
    if negotiated.version >= SpdmVersion.V13:
        key_pair_id, tag, overwrite = request.key_pair_id, request.csr_tracking_tag, request.overwrite
        if overwrite and tag:
            raise invalid_request("Overwrite together with a CSRTrackingTag")
        _check_key_pair_fields(conn, key_pair_id, request.cert_model, model_required=True)
    if request.opaque_data and not negotiated.other_params & _OPAQUE_FORMATS:
        raise invalid_request("OpaqueData, but no opaque data format was negotiated")
    try:
        der = backend.csr(key_pair_id, request.requester_info, tracking_tag=tag, overwrite=overwrite)
    except ConfigurationError as exc:
        raise LocalProtocolError(f"the device cannot make a CSR: {exc}") from exc
    response = Csr(spdm_version=negotiated.version, csr=der).encode()
    conn.check_fits(len(response))
    logger.debug("CSR of %d bytes for key pair %d", len(der), key_pair_id)
    return response


def set_certificate(conn: Connection, request: SetCertificate) -> bytes:
    """Provision (or, 1.3 Erase, clear) a slot and answer SET_CERTIFICATE_RSP.

    Raises:
        RemoteProtocolError: UnsupportedRequest (no provisioning backend),
            InvalidRequest (slot, 1.3 fields, the chain), ResetRequired from
            the device.
        LocalProtocolError: no clock to check the chain at (Unspecified).
    """
    backend = _backend(conn, RequestCode.SET_CERTIFICATE)
    negotiated = conn.session
    slot_id = request.slot_id
    if slot_id >= SLOT_COUNT:
        raise invalid_request(f"SlotID {slot_id} is outside 0-7")
    v13 = negotiated.version >= SpdmVersion.V13
    key_pair_id = request.key_pair_id if v13 else 0
    cert_model = request.cert_model if v13 else 0
    erase = v13 and request.erase
    if v13:
        _check_key_pair_fields(conn, key_pair_id, cert_model, model_required=not erase)
    if erase:
        backend.erase(slot_id)
        logger.debug("slot %d erased", slot_id)
    else:
        if request.cert_chain is None:  # Param1 b7 set before 1.3, where it is reserved
            raise invalid_request("SET_CERTIFICATE without a certificate chain")
        try:
            chain = parse_spdm_cert_chain(request.cert_chain, negotiated.hash_alg)
            validate_cert_chain(chain, [chain.root], negotiated.signing_alg, now=conn.clock(),
                                role="responder")
        except (DecodeError, VerificationError) as exc:
            raise invalid_request(f"SET_CERTIFICATE slot {slot_id}: {exc}") from exc
        backend.install(slot_id, key_pair_id, cert_model, chain.certificates)
        logger.debug("slot %d provisioned (%d certificates)", slot_id, len(chain.certificates))
    certificate_changed(conn, slot_id)
    return SetCertificateRsp(spdm_version=negotiated.version, slot_id=slot_id).encode()
