"""Responder side of VCA: GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS.

The request checks follow libspdm's responder (``libspdm_rsp_capabilities.c``,
``libspdm_rsp_algorithms.c``) so that a requester the reference rejects is
rejected here too, with the same ERROR code.  The selection rules themselves
(``pick``, preferences per version) come from :mod:`spdm.negotiation`, which
the requester checks against.
"""

from __future__ import annotations

import logging

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
    SpdmVersion,
)
from ..negotiation import (
    FLAGS_DEFINED,
    MEAS_CAPS,
    MIN_DATA_TRANSFER_SIZE_12,
    MULTI_KEY_CAPS,
    MULTI_KEY_CONN,
    SESSION_CAPS,
    mask_of,
    negotiated_from,
    pick,
    select_key_exchange,
    select_signing,
)
from ._connection import Connection, invalid_request

__all__ = [
    "MAX_ALGORITHMS_LENGTH",
    "MAX_ALGORITHMS_LENGTH_11",
    "MAX_CT_EXPONENT",
    "MAX_EXTERNAL_ALGORITHMS",
    "MAX_EXTERNAL_ALGORITHMS_11",
    "check_requester_flags",
    "get_capabilities",
    "get_version",
    "negotiate_algorithms",
]

logger = logging.getLogger(__name__)

MAX_CT_EXPONENT = 31
"""libspdm refuses a requester CTExponent above 31 (2**31 us is already ~36 minutes)."""

MAX_ALGORITHMS_LENGTH = {SpdmVersion.V10: 64}
"""NEGOTIATE_ALGORITHMS Length limit per version; 128 from 1.1 on."""
MAX_ALGORITHMS_LENGTH_11 = 128

MAX_EXTERNAL_ALGORITHMS = {SpdmVersion.V10: 8}
"""ExtAsym + ExtHash (+ AlgStruct externals) entries libspdm accepts; 20 from 1.1 on."""
MAX_EXTERNAL_ALGORITHMS_11 = 20

# Flags as plain ints for the checks below: a Flag's & builds a new member per operation.
_CHUNK_CAP = int(CapabilityFlags.CHUNK_CAP)
_KEY_EX_CAP = int(CapabilityFlags.KEY_EX_CAP)
_MUT_AUTH_CAP = int(CapabilityFlags.MUT_AUTH_CAP)
_SIGNING_CAPS = int(CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | CapabilityFlags.MEAS_CAP_SIG)
_MULTI_KEY_CAP_ONLY = int(CapabilityFlags.MULTI_KEY_CAP_ONLY)
_MULTI_KEY_CAP_NEG = int(CapabilityFlags.MULTI_KEY_CAP_NEG)
_MULTI_KEY_CAPS = int(MULTI_KEY_CAPS)
_SESSION_CAPS = int(SESSION_CAPS)
_MEAS_CAPS = int(MEAS_CAPS)
_DMTF = int(MeasurementSpecification.DMTF)

_KNOWN_ALG_TYPES = frozenset(int(t) for t in AlgType)
_PQC_ALG_TYPES = frozenset({AlgType.REQ_PQC_ASYM_ALG, AlgType.KEM})
"""AlgTypes SPDM 1.4 adds; an older request carrying one names an unknown AlgType."""


def get_version(conn: Connection, request: GetVersion) -> bytes:
    """Answer GET_VERSION with every configured version; the connection starts over."""
    conn.reset()
    entries = tuple(sorted(int(v) << 8 for v in conn.config.versions))
    response = Version(spdm_version=SpdmVersion.V10, version_entries=entries).encode()
    conn.transcript.add_vca(request.raw, response)
    return response


def _bit(flags: int, shift: int, width: int = 1) -> int:
    return (flags >> shift) & ((1 << width) - 1)


def check_requester_flags(flags: int, version: SpdmVersion) -> None:
    """Reject requester flag combinations libspdm rejects (``..._check_request_flag_compatibility``).

    Raises:
        RemoteProtocolError: InvalidRequest, naming the rule.
    """
    cert, chal, pub_key_id = bool(_bit(flags, 1)), bool(_bit(flags, 2)), bool(_bit(flags, 16))
    encrypt, mac = bool(_bit(flags, 6)), bool(_bit(flags, 7))
    mut_auth, key_ex, encap = bool(_bit(flags, 8)), bool(_bit(flags, 9)), bool(_bit(flags, 12))
    psk = _bit(flags, 10, 2)
    session_only = any(_bit(flags, bit) for bit in (6, 7, 13, 14, 15))  # ENCRYPT..IN_THE_CLEAR
    in_clear, event = bool(_bit(flags, 15)), bool(_bit(flags, 25))
    ep_info, multi_key = _bit(flags, 22, 2), _bit(flags, 26, 2)
    sessions = key_ex or psk != 0
    key = cert or pub_key_id
    rules: list[tuple[bool, str]] = []
    if version >= SpdmVersion.V11:
        rules += [
            (psk >= 2, "PSK_CAP is a reserved value for a requester"),
            (sessions and not (mac or encrypt), "KEY_EX_CAP/PSK_CAP need MAC_CAP or ENCRYPT_CAP"),
            (not sessions and session_only, "session capabilities without KEY_EX_CAP or PSK_CAP"),
            (not sessions and version >= SpdmVersion.V13 and event,
             "EVENT_CAP without KEY_EX_CAP or PSK_CAP"),
            (not key_ex and psk == 1 and in_clear, "HANDSHAKE_IN_THE_CLEAR_CAP with PSK only"),
            (cert and pub_key_id, "CERT_CAP and PUB_KEY_ID_CAP together"),
            (key and not (chal or key_ex),
             "a certificate or public key without CHAL_CAP or KEY_EX_CAP to use it"),
            (not key and (chal or mut_auth),
             "CHAL_CAP/MUT_AUTH_CAP without a certificate or public key"),
            (not key and version >= SpdmVersion.V13 and ep_info == 2,
             "signed EP_INFO_CAP without a certificate or public key"),
            (mut_auth and not (key_ex or chal), "MUT_AUTH_CAP without KEY_EX_CAP or CHAL_CAP"),
        ]
    if version == SpdmVersion.V11:
        rules.append((mut_auth and not encap, "MUT_AUTH_CAP without ENCAP_CAP (1.1)"))
    if version >= SpdmVersion.V13:
        rules += [
            (ep_info == 3 or multi_key == 3, "EP_INFO_CAP/MULTI_KEY_CAP is a reserved value"),
            (multi_key != 0 and pub_key_id, "MULTI_KEY_CAP with PUB_KEY_ID_CAP"),
        ]
    for broken, reason in rules:
        if broken:
            raise invalid_request(f"GET_CAPABILITIES flags 0x{flags:08x}: {reason}")


def get_capabilities(conn: Connection, request: GetCapabilities) -> bytes:
    """Validate the requester's capabilities and answer with ours for its chosen version.

    Raises:
        RemoteProtocolError: InvalidRequest for inconsistent flags, a CTExponent
            above 31, a 1.2 DataTransferSize below 42 or above MaxSPDMmsgSize (or
            different from it without CHUNK_CAP), or a 1.3 SupportedAlgorithms
            request without CHUNK_CAP.
    """
    version = SpdmVersion(request.spdm_version)
    flags = request.flags
    if version >= SpdmVersion.V11:
        check_requester_flags(flags, version)
        if request.ct_exponent > MAX_CT_EXPONENT:
            raise invalid_request(f"CTExponent {request.ct_exponent} exceeds {MAX_CT_EXPONENT}")
    chunk = bool(flags & _CHUNK_CAP)
    if version >= SpdmVersion.V12:
        dts, max_size = request.data_transfer_size, request.max_spdm_msg_size
        if dts < MIN_DATA_TRANSFER_SIZE_12:
            raise invalid_request(f"DataTransferSize {dts} is below {MIN_DATA_TRANSFER_SIZE_12}")
        if dts > max_size:
            raise invalid_request(f"DataTransferSize {dts} exceeds MaxSPDMmsgSize {max_size}")
        if not chunk and dts != max_size:
            raise invalid_request("without CHUNK_CAP, MaxSPDMmsgSize must equal DataTransferSize")
    if version >= SpdmVersion.V13 and request.param1 & 1 and not chunk:
        raise invalid_request("SupportedAlgorithms requested without CHUNK_CAP")
    ours = CapabilityFlags(int(conn.config.capabilities) & FLAGS_DEFINED[version])
    sized = version >= SpdmVersion.V12
    response = Capabilities(
        spdm_version=version,
        ct_exponent=conn.config.ct_exponent,
        flags=ours,
        data_transfer_size=conn.config.data_transfer_size if sized else 0,
        max_spdm_msg_size=conn.config.max_spdm_msg_size if sized else 0,
    ).encode()
    conn.version = version
    conn.requester_flags = CapabilityFlags(flags)
    conn.requester_ct_exponent = request.ct_exponent
    conn.requester_sizes = (request.data_transfer_size, request.max_spdm_msg_size)
    conn.responder_flags = ours
    conn.transcript.add_vca(request.raw, response)
    if logger.isEnabledFor(logging.DEBUG):  # no version text for a log that is off
        logger.debug("SPDM %s selected by the requester", version.text)
    return response


def _check_algorithms_request(request: NegotiateAlgorithms, version: SpdmVersion) -> None:
    """The structural rules libspdm enforces before selecting anything."""
    limit = MAX_ALGORITHMS_LENGTH.get(version, MAX_ALGORITHMS_LENGTH_11)
    if request.length > limit:
        raise invalid_request(f"NEGOTIATE_ALGORITHMS Length {request.length} exceeds {limit}")
    externals = len(request.ext_asym) + len(request.ext_hash)
    if version >= SpdmVersion.V11:
        externals += sum(len(a.external) for a in request.alg_structs)
        previous = 0
        for alg in request.alg_structs:
            if (alg.alg_type not in _KNOWN_ALG_TYPES
                    or (version < SpdmVersion.V14 and alg.alg_type in _PQC_ALG_TYPES)):
                raise invalid_request(f"AlgStruct of unknown AlgType {alg.alg_type}")
            if alg.alg_type <= previous:
                raise invalid_request("AlgStructs must be in ascending AlgType without duplicates")
            if alg.alg_supported == 0:
                raise invalid_request(f"AlgStruct {AlgType(alg.alg_type).name} offers nothing")
            previous = alg.alg_type
    external_limit = MAX_EXTERNAL_ALGORITHMS.get(version, MAX_EXTERNAL_ALGORITHMS_11)
    if externals > external_limit:
        raise invalid_request(f"{externals} external algorithms exceed {external_limit}")


def _alg_struct_selections(conn: Connection, request: NegotiateAlgorithms) -> tuple[AlgStruct, ...]:
    """Answer each AlgStruct the requester sent; 0 where our capabilities make it irrelevant.

    libspdm answers every AlgStruct type the request carried, in the same
    order (also the 1.4 ReqPqcAsym and KEM types, with 0 when it selects
    none: spdm14-p384); a type is only selected when both sides'
    capabilities use it (DHE or KEM for KEY_EX, AEAD and key schedule for
    sessions, ReqBaseAsym or ReqPqcAsym for mutual authentication).  The
    classic-or-post-quantum choices are :func:`~spdm.negotiation.select_key_exchange`
    and :func:`~spdm.negotiation.select_signing`.

    Raises:
        RemoteProtocolError: InvalidRequest when a needed kind has no common algorithm.
    """
    prefs = conn.config.algorithms.for_version(conn.session_version)
    both = int(conn.requester_flags) & int(conn.responder_flags)
    key_ex = select_key_exchange(request.alg_supported(AlgType.DHE), request.alg_supported(AlgType.KEM),
                                 prefs.dhe_groups, prefs.kem_algs)
    req_sig = select_signing(request.alg_supported(AlgType.REQ_BASE_ASYM_ALG),
                             request.alg_supported(AlgType.REQ_PQC_ASYM_ALG),
                             prefs.req_asym_algs, prefs.req_pqc_asym_algs)
    sessions = bool(both & _SESSION_CAPS)
    relevant: dict[int, tuple[bool, int]] = {  # (needed, selection) by AlgType
        AlgType.DHE: (bool(both & _KEY_EX_CAP), key_ex.dhe),
        AlgType.KEM: (bool(both & _KEY_EX_CAP), key_ex.kem),
        AlgType.AEAD: (sessions, pick(request.alg_supported(AlgType.AEAD), prefs.aead_suites)),
        AlgType.REQ_BASE_ASYM_ALG: (bool(both & _MUT_AUTH_CAP), req_sig.asym),
        AlgType.REQ_PQC_ASYM_ALG: (bool(both & _MUT_AUTH_CAP), req_sig.pqc),
        AlgType.KEY_SCHEDULE: (sessions, pick(request.alg_supported(AlgType.KEY_SCHEDULE),
                                              prefs.key_schedules)),
    }
    for needed, pair in (
        (relevant[AlgType.DHE][0], (AlgType.DHE, AlgType.KEM)),
        (sessions, (AlgType.AEAD,)),
        (sessions, (AlgType.KEY_SCHEDULE,)),
        (relevant[AlgType.REQ_BASE_ASYM_ALG][0], (AlgType.REQ_BASE_ASYM_ALG, AlgType.REQ_PQC_ASYM_ALG)),
    ):
        offered = any(request.alg_supported(t) for t in pair)
        if needed and offered and not any(relevant[t][1] for t in pair):
            raise invalid_request(f"no common {' or '.join(t.name for t in pair)} algorithm")
    selections = []
    for alg in request.alg_structs:
        needed, selected = relevant[alg.alg_type]
        selections.append(AlgStruct(alg.alg_type, selected if needed else 0))
    return tuple(selections)


def _multi_key_selection(conn: Connection, request: NegotiateAlgorithms) -> int:
    """The 1.3 multi-key rules (libspdm ``libspdm_rsp_algorithms.c``, spdm-rs agree).

    MULTI_KEY_CONN_RSP -- whether *our* keys work as a multi-key connection --
    is the requester's OtherParamsSupport b4; a missing b4 although our
    MULTI_KEY_CAP is ONLY is InvalidRequest.  Decided: a b4 we have no
    MULTI_KEY_CAP for is ignored (a single-key connection), where libspdm answers
    InvalidRequest -- the reference requester sets b4 whatever the responder
    advertises, and a device without multi-key keys can still serve it.
    MULTI_KEY_CONN_REQ -- the requester's keys, which OtherParamsSelection b4
    tells it -- follows the requester's MULTI_KEY_CAP:
    ONLY selects it, NEG leaves it to us.  Decided: with NEG we select it when
    the requester asked multi-key of us too (one mode for both directions;
    every 1.3 reference capture shows exactly that, 0x12 answering 0x12).

    Raises:
        RemoteProtocolError: InvalidRequest (see above).
    """
    ours = int(conn.responder_flags) & _MULTI_KEY_CAPS
    wanted = bool(request.other_params_support & MULTI_KEY_CONN)
    if not wanted and ours == _MULTI_KEY_CAP_ONLY:
        raise invalid_request("the device speaks only multi-key connections (MULTI_KEY_CAP ONLY)")
    theirs = int(conn.requester_flags) & _MULTI_KEY_CAPS
    if theirs == _MULTI_KEY_CAP_ONLY or (theirs == _MULTI_KEY_CAP_NEG and wanted and ours):
        return MULTI_KEY_CONN
    return 0


def negotiate_algorithms(conn: Connection, request: NegotiateAlgorithms) -> bytes:
    """Select one algorithm of each kind and answer ALGORITHMS; the connection is negotiated.

    Raises:
        RemoteProtocolError: InvalidRequest for a malformed request (Length,
            AlgStruct order, unknown types), no common hash, no common signature
            algorithm although we sign, or no DMTF measurement specification
            although we measure.
    """
    version = conn.session_version
    _check_algorithms_request(request, version)
    prefs = conn.config.algorithms.for_version(version)
    ours = conn.responder_flags
    our_flags = int(ours)
    hash_sel = pick(request.base_hash_algo, prefs.hash_algs)
    if not hash_sel:
        raise invalid_request(f"no common BaseHashAlgo in 0x{request.base_hash_algo:x}")
    # Only what the device's keys really sign with is selectable.
    signing = select_signing(request.base_asym_algo & int(conn.backend.asym_algorithms()),
                             request.pqc_asym_algo & int(conn.backend.pqc_asym_algorithms()),
                             prefs.asym_algs, prefs.pqc_asym_algs)
    asym_sel = signing.asym
    signs = bool(our_flags & _SIGNING_CAPS) or bool(int(conn.requester_flags) & our_flags & _KEY_EX_CAP)
    if signs and not (signing.asym or signing.pqc):
        raise invalid_request(f"no common BaseAsymAlgo in 0x{request.base_asym_algo:x}")
    spec_sel = meas_hash_sel = 0
    if our_flags & _MEAS_CAPS:
        if not request.measurement_specification & _DMTF:
            raise invalid_request("the DMTF measurement specification was not offered")
        spec_sel = MeasurementSpecification.DMTF
        # The requester offers no measurement hash: we choose our first preference.
        meas_hash_sel = pick(mask_of(prefs.measurement_hash_algs), prefs.measurement_hash_algs)
    other_params = 0
    if version >= SpdmVersion.V12:
        other_params = pick(request.other_params_support, prefs.opaque_formats)
    if version >= SpdmVersion.V13:
        other_params |= _multi_key_selection(conn, request)
    alg_structs = _alg_struct_selections(conn, request) if version >= SpdmVersion.V11 else ()
    response = Algorithms(
        spdm_version=version,
        measurement_specification_sel=spec_sel,
        other_params_selection=other_params,
        measurement_hash_algo=meas_hash_sel,
        base_asym_sel=asym_sel,
        base_hash_sel=hash_sel,
        pqc_asym_sel=signing.pqc,
        alg_structs=alg_structs,
    )
    encoded = response.encode()
    conn.negotiated = negotiated_from(
        response.with_raw(encoded),
        version=version,
        requester_flags=conn.requester_flags,
        responder_flags=ours,
        requester_ct_exponent=conn.requester_ct_exponent,
        responder_ct_exponent=conn.config.ct_exponent,
        requester_sizes=conn.requester_sizes,
        responder_sizes=(
            (conn.config.data_transfer_size, conn.config.max_spdm_msg_size)
            if version >= SpdmVersion.V12 else (0, 0)
        ),
        requester_other_params=request.other_params_support if version >= SpdmVersion.V13 else 0,
    )
    conn.transcript.add_vca(request.raw, encoded)
    logger.debug("algorithms negotiated: hash 0x%x, asym 0x%x", hash_sel, asym_sel)
    return encoded
