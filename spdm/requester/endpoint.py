"""Requester commands for the SPDM 1.3 endpoint messages: endpoint info, the MEL, key pairs.

* :meth:`EndpointCommands.get_endpoint_info` asks for the device class
  identifier, signed with a slot's key or not; a signed answer is verified
  over IL1 = A ‖ GET_ENDPOINT_INFO ‖ ENDPOINT_INFO without its signature (the
  transcript libspdm signs, in and out of a session) with the slot's leaf key.
* :meth:`EndpointCommands.get_measurement_extension_log` reads the whole MEL
  portion by portion on the same session; the log is bounded by
  :data:`MAX_MEL_SIZE` (decided: 1 MiB, far above the few hundred bytes a
  device's boot log takes, and what a requester is willing to buffer), each
  portion must fit what was asked, the remainder may not grow, and the
  complete log must decode as the DMTF format.
* :meth:`EndpointCommands.get_key_pair_info` / :meth:`EndpointCommands.set_key_pair_info`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..backend import IdentityBackend
from ..config import RequesterConfig
from ..errors import LocalProtocolError, RemoteProtocolError
from ..messages import NONCE_SIZE
from ..messages.codes import (
    CapabilityFlags,
    EndpointInfoAttributes,
    EndpointInfoSubcode,
    KeyPairOperation,
    RequestCode,
    SpdmVersion,
)
from ..secured import DOE_RECORDS, RecordFormat
from .auth import AuthCommands
from .core import RequesterCore

if TYPE_CHECKING:
    from ..messages.endpoint import EndpointInfo, GetEndpointInfo
    from ..messages.key_pair import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
    from ..messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog

__all__ = ["ENDPOINT_INFO_CONTEXT", "MAX_MEL_SIZE", "EndpointCommands"]

ENDPOINT_INFO_CONTEXT = "responder-endpoint_info signing"
MAX_MEL_SIZE = 1 << 20
"""The largest MEL the requester buffers (see the module docstring)."""
EP_INFO_CAPS = CapabilityFlags.EP_INFO_CAP_NO_SIG | CapabilityFlags.EP_INFO_CAP_SIG


class EndpointCommands(RequesterCore):
    """GET_ENDPOINT_INFO, GET_MEASUREMENT_EXTENSION_LOG, GET/SET_KEY_PAIR_INFO."""

    def __init__(
        self,
        config: RequesterConfig,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        backend: IdentityBackend | None = None,
        record_format: RecordFormat = DOE_RECORDS,
    ) -> None:
        super().__init__(config, rng=rng, backend=backend, record_format=record_format)
        self._mel = bytearray()
        self._mel_total = 0

    # endpoint info ----------------------------------------------------------------------

    def get_endpoint_info(self, *, signed: bool = True, slot_id: int = 0, session_id: int | None = None,
                          subcode: int = EndpointInfoSubcode.DEVICE_CLASS_IDENTIFIER) -> None:
        """Queue GET_ENDPOINT_INFO.

        Args:
            signed: ask for a signature (needs EP_INFO_CAP_SIG and the slot's chain).
            slot_id: the slot whose key signs.
            session_id: send inside this established session.
            subcode: what to ask for (1 = device class identifier).

        Raises:
            LocalProtocolError: not allowed now, a capability or the chain is missing.
        """
        from ..messages.endpoint import GetEndpointInfo
        negotiated = self._need_negotiated(RequestCode.GET_ENDPOINT_INFO)
        flags = negotiated.responder_flags
        if not flags & EP_INFO_CAPS:
            raise LocalProtocolError("the responder does not give endpoint info (no EP_INFO_CAP)")
        if signed and not flags & CapabilityFlags.EP_INFO_CAP_SIG:
            raise LocalProtocolError("the responder cannot sign endpoint info (no EP_INFO_CAP_SIG)")
        if signed and slot_id not in self.chains:
            raise LocalProtocolError(f"signed endpoint info from slot {slot_id}: retrieve its chain first")
        request = GetEndpointInfo(
            spdm_version=negotiated.version, subcode=subcode, slot_id=slot_id if signed else 0,
            request_attributes=int(EndpointInfoAttributes.SIGNATURE_REQUESTED) if signed else 0,
            nonce=self._random(NONCE_SIZE) if signed else None,
        )
        self._send(request, session=self._established_session(session_id))

    def _on_endpoint_info(self, request: GetEndpointInfo, response: EndpointInfo) -> None:
        from ..events import EndpointInfoReceived
        from ..messages.endpoint import DeviceClassIdentifier
        negotiated = self.negotiated
        assert negotiated is not None
        if request.subcode == EndpointInfoSubcode.DEVICE_CLASS_IDENTIFIER:
            DeviceClassIdentifier.decode(response.ep_info)
        evidence = None
        if request.signature_requested:
            assert request.nonce is not None and response.nonce is not None
            if response.slot_id != request.slot_id:
                raise RemoteProtocolError(
                    f"ENDPOINT_INFO signed with slot {response.slot_id}, "
                    f"slot {request.slot_id} was asked for")
            il1 = bytes(self.transcript.a) + request.raw + response.signed_part
            evidence = AuthCommands._evidence(negotiated, ENDPOINT_INFO_CONTEXT, request.slot_id, il1,
                                      response.signature, request.nonce, response.nonce)
            AuthCommands._verify(negotiated, self.chains[request.slot_id], evidence)
        self._events.append(
            EndpointInfoReceived(request.subcode, response.slot_id, response.ep_info, evidence))

    # measurement extension log ------------------------------------------------------------

    def get_measurement_extension_log(self, *, session_id: int | None = None) -> None:
        """Queue the first GET_MEASUREMENT_EXTENSION_LOG; the engine asks for the rest itself.

        Raises:
            LocalProtocolError: not allowed now, or the responder has no MEL_CAP.
        """
        from ..messages.mel import GetMeasurementExtensionLog
        negotiated = self._need_negotiated(RequestCode.GET_MEASUREMENT_EXTENSION_LOG)
        self._need_caps(negotiated, CapabilityFlags.MEL_CAP, "GET_MEASUREMENT_EXTENSION_LOG")
        self._mel, self._mel_total = bytearray(), 0
        self._send(GetMeasurementExtensionLog(spdm_version=negotiated.version, offset=0, length=MAX_MEL_SIZE),
                   session=self._established_session(session_id))

    def _on_measurement_extension_log(self, request: GetMeasurementExtensionLog,
                                      response: MeasurementExtensionLog) -> None:
        from ..events import MeasurementExtensionLogReceived
        from ..messages.mel import GetMeasurementExtensionLog, Mel
        negotiated = self.negotiated
        assert negotiated is not None
        portion = response.portion
        if len(portion) > request.length:
            raise RemoteProtocolError(f"MEL portion of {len(portion)} bytes, asked for {request.length}")
        if request.offset == 0:
            self._mel, self._mel_total = bytearray(), len(portion) + response.remainder_length
        self._mel += portion
        total = len(self._mel) + response.remainder_length
        if total > MAX_MEL_SIZE:
            raise RemoteProtocolError(f"a MEL of {total} bytes exceeds the {MAX_MEL_SIZE}-byte bound")
        if total != self._mel_total:
            raise RemoteProtocolError(
                f"the MEL was {self._mel_total} bytes, its portions now add up to {total}")
        if response.remainder_length:
            if not portion:
                raise RemoteProtocolError("an empty MEL portion with data remaining")
            self._send(GetMeasurementExtensionLog(spdm_version=negotiated.version, offset=len(self._mel),
                                                  length=MAX_MEL_SIZE - len(self._mel)),
                       session=self._answered_session)
            return
        mel = bytes(self._mel)
        self._mel = bytearray()
        self._events.append(MeasurementExtensionLogReceived(mel, len(Mel.decode(mel).entries)))

    # key pairs --------------------------------------------------------------------------

    def get_key_pair_info(self, key_pair_id: int, *, session_id: int | None = None) -> None:
        """Queue GET_KEY_PAIR_INFO for one key pair (1-based).

        Raises:
            LocalProtocolError: not allowed now, GET_KEY_PAIR_INFO_CAP missing, or a bad ID.
        """
        from ..messages.key_pair import GetKeyPairInfo
        negotiated = self._need_negotiated(RequestCode.GET_KEY_PAIR_INFO)
        self._need_caps(negotiated, CapabilityFlags.GET_KEY_PAIR_INFO_CAP, "GET_KEY_PAIR_INFO")
        if not 1 <= key_pair_id <= 0xFF:
            raise LocalProtocolError(f"key pair ID {key_pair_id} is not 1-255")
        self._send(GetKeyPairInfo(spdm_version=negotiated.version, key_pair_id=key_pair_id),
                   session=self._established_session(session_id))

    def _on_key_pair_info(self, request: GetKeyPairInfo, response: KeyPairInfo) -> None:
        from ..events import KeyPairInfoReceived
        if response.key_pair_id != request.key_pair_id:
            raise RemoteProtocolError(
                f"KEY_PAIR_INFO for key pair {response.key_pair_id}, {request.key_pair_id} was asked for")
        if response.key_pair_id > response.total_key_pairs:
            raise RemoteProtocolError(
                f"KEY_PAIR_INFO for key pair {response.key_pair_id} of {response.total_key_pairs}")
        self._events.append(KeyPairInfoReceived(
            response.total_key_pairs, response.key_pair_id, response.capabilities,
            response.key_usage_capabilities, response.current_key_usage, response.asym_algo_capabilities,
            response.current_asym_algo, response.assoc_cert_slot_mask, response.public_key_info,
            response.pqc_asym_algo_capabilities, response.current_pqc_asym_algo))

    def set_key_pair_info(self, key_pair_id: int, operation: int = KeyPairOperation.CHANGE, *,
                          key_usage: int = 0, asym_algo: int = 0, assoc_cert_slot_mask: int = 0,
                          pqc_asym_algo: int = 0, session_id: int | None = None) -> None:
        """Queue SET_KEY_PAIR_INFO (Change and Generate carry the desired values, Erase none).

        ``pqc_asym_algo`` is the 1.4 DesiredPqcAsymAlgo (an ML-DSA key pair).

        Raises:
            LocalProtocolError: not allowed now, SET_KEY_PAIR_INFO_CAP missing, a bad ID,
                or a PQC algorithm before 1.4.
        """
        from ..messages.key_pair import SetKeyPairInfo
        negotiated = self._need_negotiated(RequestCode.SET_KEY_PAIR_INFO)
        self._need_caps(negotiated, CapabilityFlags.SET_KEY_PAIR_INFO_CAP, "SET_KEY_PAIR_INFO")
        if not 1 <= key_pair_id <= 0xFF:
            raise LocalProtocolError(f"key pair ID {key_pair_id} is not 1-255")
        if pqc_asym_algo and negotiated.version < SpdmVersion.V14:
            raise LocalProtocolError("SET_KEY_PAIR_INFO names PQC algorithms from SPDM 1.4 on")
        erase = operation == KeyPairOperation.ERASE
        self._send(SetKeyPairInfo(
            spdm_version=negotiated.version, operation=operation, key_pair_id=key_pair_id,
            desired_key_usage=None if erase else key_usage, desired_asym_algo=None if erase else asym_algo,
            desired_assoc_cert_slot_mask=None if erase else assoc_cert_slot_mask,
            desired_pqc_asym_algo=None if erase else pqc_asym_algo,
        ), session=self._established_session(session_id))

    def _on_set_key_pair_info_ack(self, request: SetKeyPairInfo, response: SetKeyPairInfoAck) -> None:
        from ..events import KeyPairInfoSet
        del response
        self._events.append(KeyPairInfoSet(request.operation, request.key_pair_id))
