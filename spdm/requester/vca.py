"""Requester commands and checks for VCA: GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS."""

from __future__ import annotations

from ..errors import RemoteProtocolError
from ..events import AlgorithmsNegotiated, CapabilitiesReceived, VersionNegotiated
from ..messages import (
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    Version,
)
from ..messages.codes import (
    AlgType,
    CapabilityFlags,
    MeasurementSpecification,
    RequestCode,
    SpdmVersion,
)
from ..negotiation import (
    MEAS_CAPS,
    MIN_DATA_TRANSFER_SIZE_12,
    MULTI_KEY_CAPS,
    MULTI_KEY_CONN,
    check_algorithms_response,
    highest_common_version,
    mask_of,
    negotiated_from,
)
from .core import RequesterCore

__all__ = ["VcaCommands"]

_FLAGS_14 = CapabilityFlags.SET_KEY_PAIR_RESET_CAP | CapabilityFlags.LARGE_RESP_CAP
# Flags as plain ints for the checks below: a Flag's & builds a new member per operation.
_BEFORE_14 = int(~_FLAGS_14)
_MULTI_KEY_EXCLUSIVE = int(MULTI_KEY_CAPS | CapabilityFlags.PUB_KEY_ID_CAP)
_MULTI_KEY_CAP_NEG = int(CapabilityFlags.MULTI_KEY_CAP_NEG)
_MULTI_KEY_CAP_ONLY = int(CapabilityFlags.MULTI_KEY_CAP_ONLY)
_MULTI_KEY_CAPS = int(MULTI_KEY_CAPS)
_MEAS_CAPS = int(MEAS_CAPS)


def _flags_for(flags: CapabilityFlags, version: SpdmVersion, *, multi_key_conn: bool = False) -> int:
    """The configured flags as ``version`` carries them: none in 1.0, the 1.4 bits only from 1.4.

    The default configuration advertises LARGE_RESP_CAP (1.4); a 1.1-1.3
    responder must not see a bit its version leaves reserved.  Asked for a
    multi-key connection (:attr:`RequesterConfig.multi_key_conn`), a 1.3+
    requester advertises MULTI_KEY_CAP NEG unless its flags name a
    MULTI_KEY_CAP already (or PUB_KEY_ID_CAP, which excludes it) -- as the
    reference requester does (0x0882f7c6, spdm13-p384-csr-setcert): with it
    the responder may select MULTI_KEY_CONN_REQ, our keys on the multi-key
    connection too.
    """
    if version < SpdmVersion.V11:
        return 0
    value = int(flags)
    if multi_key_conn and version >= SpdmVersion.V13 and not value & _MULTI_KEY_EXCLUSIVE:
        value |= _MULTI_KEY_CAP_NEG
    return value & _BEFORE_14 if version < SpdmVersion.V14 else value


class VcaCommands(RequesterCore):
    """Version, capability and algorithm negotiation."""

    # ------------------------------------------------------------------ commands: VCA

    def get_version(self) -> None:
        """Queue GET_VERSION; this resets the connection and all transcripts."""
        self._begin(RequestCode.GET_VERSION)
        self._forget_connection()
        self._send(GetVersion())

    def _forget_connection(self) -> None:
        """A new GET_VERSION starts a new connection: nothing negotiated or retrieved before holds."""
        self._end_flows()
        self.version = None
        self.negotiated = None
        self.digests.clear()
        self.slot_keys.clear()
        self.chains.clear()

    def get_capabilities(self) -> None:
        """Queue GET_CAPABILITIES with the configured flags and sizes."""
        version = self._begin(RequestCode.GET_CAPABILITIES)
        c = self.config
        request = GetCapabilities(
            spdm_version=version,
            ct_exponent=c.ct_exponent,
            flags=_flags_for(c.capabilities, version, multi_key_conn=c.multi_key_conn),
            data_transfer_size=c.data_transfer_size,
            max_spdm_msg_size=c.max_spdm_msg_size,
        )
        self._request_capabilities = request
        self._send(request)

    def negotiate_algorithms(self) -> None:
        """Queue NEGOTIATE_ALGORITHMS offering the configured preferences."""
        version = self._begin(RequestCode.NEGOTIATE_ALGORITHMS)
        prefs = self.config.algorithms.for_version(version)
        req_asym = mask_of(prefs.req_asym_algs)
        req_pqc = mask_of(prefs.req_pqc_asym_algs)
        if self._backend is not None:
            # Offer only what our own key signs with: the responder picks, then checks our chain.
            req_asym &= int(self._backend.asym_algorithms())
            req_pqc &= int(self._backend.pqc_asym_algorithms())
        structs: list[AlgStruct] = []
        if version >= SpdmVersion.V11:
            for alg_type, mask in (
                (AlgType.DHE, mask_of(prefs.dhe_groups)),
                (AlgType.AEAD, mask_of(prefs.aead_suites)),
                (AlgType.REQ_BASE_ASYM_ALG, req_asym),
                (AlgType.KEY_SCHEDULE, mask_of(prefs.key_schedules)),
                (AlgType.REQ_PQC_ASYM_ALG, req_pqc),
                (AlgType.KEM, mask_of(prefs.kem_algs)),
            ):
                if mask:
                    structs.append(AlgStruct(alg_type, mask))
        other = 0
        if version >= SpdmVersion.V12:
            other = mask_of(prefs.opaque_formats)
            if version >= SpdmVersion.V13:
                other |= self._multi_key_offer()
        request = NegotiateAlgorithms(
            spdm_version=version,
            measurement_specification=MeasurementSpecification.DMTF,
            other_params_support=other,
            base_asym_algo=mask_of(prefs.asym_algs),
            base_hash_algo=mask_of(prefs.hash_algs),
            pqc_asym_algo=mask_of(prefs.pqc_asym_algs),
            mel_specification=self.config.mel_specification if version >= SpdmVersion.V13 else 0,
            alg_structs=tuple(structs),
        )
        self._send(request)

    def _multi_key_offer(self) -> int:
        """OtherParamsSupport b4 (1.3): ask the responder for a multi-key connection.

        A responder whose MULTI_KEY_CAP is ONLY gets it always, one without
        MULTI_KEY_CAP never (libspdm's responder refuses either otherwise), one
        with NEG when :attr:`RequesterConfig.multi_key_conn` says so.
        """
        caps = self.responder_capabilities
        theirs = int(caps.flags) & _MULTI_KEY_CAPS if caps is not None else 0
        if theirs == _MULTI_KEY_CAP_ONLY:
            return MULTI_KEY_CONN
        return MULTI_KEY_CONN if theirs and self.config.multi_key_conn else 0

    @staticmethod
    def _check_multi_key_selection(our_flags: CapabilityFlags, selection: int) -> None:
        """ALGORITHMS b4 (MULTI_KEY_CONN_REQ) must fit our MULTI_KEY_CAP (as spdm-rs checks).

        Raises:
            RemoteProtocolError: selected without our MULTI_KEY_CAP, or not selected
                although ours is ONLY.
        """
        ours = int(our_flags) & _MULTI_KEY_CAPS
        selected = bool(selection & MULTI_KEY_CONN)
        if selected and not ours:
            raise RemoteProtocolError("ALGORITHMS selects MULTI_KEY_CONN, we have no MULTI_KEY_CAP")
        if not selected and ours == _MULTI_KEY_CAP_ONLY:
            raise RemoteProtocolError("ALGORITHMS leaves out MULTI_KEY_CONN, our MULTI_KEY_CAP is ONLY")

    # VCA ----------------------------------------------------------------------------

    def _on_version(self, request: GetVersion, response: Version) -> None:
        if response.spdm_version != SpdmVersion.V10:
            raise RemoteProtocolError(
                f"VERSION must carry SPDMVersion 0x10, not 0x{response.spdm_version:02x}"
            )
        self.version = highest_common_version(self.config.versions, response.versions)
        self.transcript.add_vca(request.raw, response.raw)
        self._events.append(VersionNegotiated(self.version, response.versions))

    def _on_capabilities(self, request: GetCapabilities, response: Capabilities) -> None:
        version = self.version
        assert version is not None
        if version >= SpdmVersion.V12:
            if response.data_transfer_size < MIN_DATA_TRANSFER_SIZE_12:
                raise RemoteProtocolError(
                    f"CAPABILITIES DataTransferSize {response.data_transfer_size} is below "
                    f"the minimum of {MIN_DATA_TRANSFER_SIZE_12}"
                )
            if response.max_spdm_msg_size < response.data_transfer_size:
                raise RemoteProtocolError("CAPABILITIES MaxSPDMmsgSize is below DataTransferSize")
        flags = CapabilityFlags(response.flags)
        if int(flags) & _MEAS_CAPS == _MEAS_CAPS:
            raise RemoteProtocolError("CAPABILITIES MEAS_CAP has the reserved value 11b")
        self.responder_capabilities = response
        self.transcript.add_vca(request.raw, response.raw)
        self._events.append(CapabilitiesReceived(
            flags, response.ct_exponent, response.data_transfer_size, response.max_spdm_msg_size,
        ))

    def _on_algorithms(self, request: NegotiateAlgorithms, response: Algorithms) -> None:
        version = self.version
        caps = self.responder_capabilities
        ours = self._request_capabilities
        assert version is not None and caps is not None and ours is not None
        requester_flags, responder_flags = CapabilityFlags(ours.flags), CapabilityFlags(caps.flags)
        check_algorithms_response(
            response,
            version=version,
            offered=self.config.algorithms,
            requester_flags=requester_flags,
            responder_flags=responder_flags,
        )
        self.negotiated = negotiated_from(
            response,
            version=version,
            requester_flags=requester_flags,
            responder_flags=responder_flags,
            requester_ct_exponent=ours.ct_exponent,
            responder_ct_exponent=caps.ct_exponent,
            requester_sizes=(ours.data_transfer_size, ours.max_spdm_msg_size),
            responder_sizes=(caps.data_transfer_size, caps.max_spdm_msg_size),
            requester_other_params=request.other_params_support if version >= SpdmVersion.V13 else 0,
        )
        if version >= SpdmVersion.V13:
            self._check_multi_key_selection(requester_flags, response.other_params_selection)
        self.transcript.add_vca(request.raw, response.raw)
        self._events.append(AlgorithmsNegotiated(self.negotiated))
