"""Version, capability and algorithm negotiation: the rules both roles apply.

The requester offers sets, the responder picks one of each, the requester
checks the pick.  Both sides then hold the same :class:`Negotiated` record,
which is what every later message's layout and every crypto call depends on.
Keeping the selection rules here (not in either engine) is what makes the two
roles agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import field, replace
from enum import IntFlag
from functools import cached_property
from typing import TypeVar

from .crypto import (
    SigningAlgo,
    dhe_public_size,
    hash_size,
    kem_ciphertext_size,
    kem_encapsulation_key_size,
    signature_size,
)
from .errors import NegotiationError, RemoteProtocolError
from .messages import Algorithms, CodecContext
from .messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KemAlgo,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    MeasurementSpecification,
    OpaqueDataFormat,
    PqcAsymAlgo,
    SpdmVersion,
)
from .record import record

__all__ = [
    "CMA_MAX_CT_EXPONENT",
    "EDDSA",
    "FLAGS_DEFINED",
    "MEAS_CAPS",
    "MIN_DATA_TRANSFER_SIZE_12",
    "MULTI_KEY_CAPS",
    "MULTI_KEY_CONN",
    "SESSION_CAPS",
    "AlgorithmPreferences",
    "KeyExchangeSelection",
    "Negotiated",
    "SigningSelection",
    "check_algorithms_response",
    "highest_common_version",
    "mask_of",
    "negotiated_from",
    "pick",
    "select_key_exchange",
    "select_signing",
    "single_bit",
]

SESSION_CAPS = CapabilityFlags.KEY_EX_CAP | CapabilityFlags.PSK_CAP | CapabilityFlags.PSK_CAP_WITH_CONTEXT
MEAS_CAPS = CapabilityFlags.MEAS_CAP_NO_SIG | CapabilityFlags.MEAS_CAP_SIG
MULTI_KEY_CAPS = CapabilityFlags.MULTI_KEY_CAP_ONLY | CapabilityFlags.MULTI_KEY_CAP_NEG
MULTI_KEY_CONN = 0x10
"""OtherParamsSupport / OtherParamsSelection b4 (1.3)."""

EDDSA = BaseAsymAlgo.EDDSA_ED25519 | BaseAsymAlgo.EDDSA_ED448
"""EdDSA exists in SPDM only from 1.2 on."""

FLAGS_DEFINED: dict[int, int] = {
    SpdmVersion.V10: 0x0000_003F,
    SpdmVersion.V11: 0x0001_FFFF,
    SpdmVersion.V12: 0x003F_FFFF,
    SpdmVersion.V13: 0x3FFF_FFFF,
    SpdmVersion.V14: 0xFFFF_FFFF,
}
"""CAPABILITIES flag bits each version defines; bits a version lacks are sent as 0 by both roles
(1.4 adds SET_KEY_PAIR_RESET_CAP b30 and LARGE_RESP_CAP b31)."""

CMA_MAX_CT_EXPONENT = 23
"""PCIe CMA caps the responder's crypto timeout at 2**23 microseconds."""

MIN_DATA_TRANSFER_SIZE_12 = 42
"""SPDM 1.2: DataTransferSize shall be at least 42."""

# Flags as plain ints for the checks below: a Flag's & builds a new member per operation.
_SESSION_CAPS = int(SESSION_CAPS)
_MEAS_CAPS = int(MEAS_CAPS)
_MULTI_KEY_CAPS = int(MULTI_KEY_CAPS)
_KEY_EX_CAP = int(CapabilityFlags.KEY_EX_CAP)
_MUT_AUTH_CAP = int(CapabilityFlags.MUT_AUTH_CAP)
_SIGNING_CAPS = int(CapabilityFlags.CHAL_CAP | CapabilityFlags.MEAS_CAP_SIG | CapabilityFlags.KEY_EX_CAP)
"""A responder with any of these signs, so it must select a signature algorithm."""
# The AlgStruct types as plain ints: on Python 3.11 an enum class attribute is a slow lookup
# (EnumType defines __getattr__), and both roles read some fifteen of them per connection.
_DHE = int(AlgType.DHE)
_AEAD = int(AlgType.AEAD)
_REQ_BASE_ASYM_ALG = int(AlgType.REQ_BASE_ASYM_ALG)
_KEY_SCHEDULE = int(AlgType.KEY_SCHEDULE)
_REQ_PQC_ASYM_ALG = int(AlgType.REQ_PQC_ASYM_ALG)
_KEM = int(AlgType.KEM)


def mask_of(items: Iterable[int]) -> int:
    """OR a sequence of single-bit algorithm values into a bitmask."""
    mask = 0
    for item in items:
        mask |= int(item)
    return mask


_MEASUREMENT_HASH_ALGS = mask_of(MeasurementHashAlgo)
"""Every defined MeasurementHashAlgo bit."""


def pick(offered: int, preference: Sequence[int]) -> int:
    """The first of ``preference`` present in ``offered``, or 0 when none is."""
    offered = int(offered)  # a Flag's & would build a new member per preference
    for p in preference:
        value = int(p)
        if offered & value:
            return value
    return 0


def single_bit(value: int) -> bool:
    """True when exactly one bit is set."""
    return value != 0 and value & (value - 1) == 0


@record(frozen=True)
class AlgorithmPreferences:
    """Algorithms one side supports, most preferred first.

    The requester offers the union of each tuple; the responder selects the
    first of its own tuple that the requester offered.  Ed448 is absent by
    default: SPDM 1.2+ signs with Ed448ctx (the signing context as the EdDSA
    context), which ``cryptography`` cannot do, and EdDSA does not exist
    before 1.2.
    """

    hash_algs: tuple[BaseHashAlgo, ...] = (
        BaseHashAlgo.SHA_384, BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_512,
    )
    asym_algs: tuple[BaseAsymAlgo, ...] = (
        BaseAsymAlgo.ECDSA_P384, BaseAsymAlgo.ECDSA_P256, BaseAsymAlgo.ECDSA_P521,
        BaseAsymAlgo.RSAPSS_3072, BaseAsymAlgo.RSASSA_3072, BaseAsymAlgo.RSAPSS_4096,
        BaseAsymAlgo.RSASSA_4096, BaseAsymAlgo.RSAPSS_2048, BaseAsymAlgo.RSASSA_2048,
        BaseAsymAlgo.EDDSA_ED25519,
    )
    measurement_hash_algs: tuple[MeasurementHashAlgo, ...] = (
        MeasurementHashAlgo.SHA_384, MeasurementHashAlgo.SHA_256, MeasurementHashAlgo.SHA_512,
    )
    dhe_groups: tuple[DheGroup, ...] = (
        DheGroup.SECP_384_R1, DheGroup.SECP_256_R1, DheGroup.SECP_521_R1,
        DheGroup.FFDHE_3072, DheGroup.FFDHE_2048, DheGroup.FFDHE_4096,
    )
    aead_suites: tuple[AeadSuite, ...] = (
        AeadSuite.AES_256_GCM, AeadSuite.AES_128_GCM, AeadSuite.CHACHA20_POLY1305,
    )
    req_asym_algs: tuple[BaseAsymAlgo, ...] = (
        BaseAsymAlgo.ECDSA_P384, BaseAsymAlgo.ECDSA_P256, BaseAsymAlgo.RSAPSS_3072,
        BaseAsymAlgo.RSASSA_3072, BaseAsymAlgo.RSAPSS_2048, BaseAsymAlgo.RSASSA_2048,
    )
    key_schedules: tuple[KeyScheduleAlgo, ...] = (KeyScheduleAlgo.SPDM,)
    opaque_formats: tuple[OpaqueDataFormat, ...] = (OpaqueDataFormat.FMT1, OpaqueDataFormat.FMT0)
    pqc_asym_algs: tuple[PqcAsymAlgo, ...] = ()
    req_pqc_asym_algs: tuple[PqcAsymAlgo, ...] = ()
    kem_algs: tuple[KemAlgo, ...] = ()

    def for_version(self, version: int) -> AlgorithmPreferences:
        """These preferences minus what ``version`` cannot carry.

        EdDSA exists from 1.2 on, the post-quantum sets (PqcAsymAlgo,
        ReqPqcAsymAlg, KEM) from 1.4 on.
        """
        prefs = self
        if version < SpdmVersion.V14 and (self.pqc_asym_algs or self.req_pqc_asym_algs
                                          or self.kem_algs):
            prefs = replace(prefs, pqc_asym_algs=(), req_pqc_asym_algs=(), kem_algs=())
        if version >= SpdmVersion.V12:
            return prefs
        return replace(prefs, asym_algs=tuple(a for a in prefs.asym_algs if not a & EDDSA))


@record(frozen=True)
class SigningSelection:
    """A signature algorithm choice: a classic BaseAsymAlgo or a PqcAsymAlgo, never both.

    SPDM 1.4 negotiates the signing algorithm in two fields (BaseAsymSel and
    PqcAsymSel; for the requester ReqBaseAsymAlg and ReqPqcAsymAlg); at most
    one of each pair is non-zero.
    """

    asym: int = 0
    pqc: int = 0


@record(frozen=True)
class KeyExchangeSelection:
    """A session key-exchange choice: a DHE group or (1.4) a KEM, never both."""

    dhe: int = 0
    kem: int = 0


def select_signing(
    offered_asym: int, offered_pqc: int, asym_prefs: Sequence[int], pqc_prefs: Sequence[int],
) -> SigningSelection:
    """The responder's choice of a signature algorithm (its own or the requester's).

    The one place that decides between the classic and the post-quantum set:
    a post-quantum algorithm both sides have wins (it is the reason to speak
    1.4 with PQC at all), else the first classic preference the peer offered.
    ``asym_prefs``/``pqc_prefs`` hold only what the signing key really
    supports; a classic-only device passes no PQC preferences and so selects
    PqcAsym = 0, as the reference did in spdm14-p384.
    """
    pqc = pick(offered_pqc, pqc_prefs)
    if pqc:
        return SigningSelection(pqc=pqc)
    return SigningSelection(asym=pick(offered_asym, asym_prefs))


def select_key_exchange(
    offered_dhe: int, offered_kem: int, dhe_prefs: Sequence[int], kem_prefs: Sequence[int],
) -> KeyExchangeSelection:
    """The responder's choice of the session key exchange: a KEM (1.4) before a DHE group.

    Same rule as :func:`select_signing`: a post-quantum KEM both sides have
    wins; otherwise the first DHE preference offered (a classic-only device
    answers KEM = 0, as the reference did in spdm14-p384).
    """
    kem = pick(offered_kem, kem_prefs)
    if kem:
        return KeyExchangeSelection(kem=kem)
    return KeyExchangeSelection(dhe=pick(offered_dhe, dhe_prefs))


@record(frozen=True)
class Negotiated:
    """Everything VCA settled, identical on both sides once ALGORITHMS is accepted.

    Attributes:
        version: the negotiated SPDM version.
        requester_flags / responder_flags: each side's CAPABILITIES flags.
        requester_ct_exponent / responder_ct_exponent: CT = 2**x microseconds.
        requester_data_transfer_size / responder_data_transfer_size: largest
            message each side receives in one transfer (1.2+; 0 before).
        hash_alg ... key_schedule: the single selected algorithm of each kind
            (0 where nothing was selected).
        other_params: OtherParamsSelection (opaque data format, MULTI_KEY_CONN_REQ).
        requester_other_params: the OtherParamsSupport NEGOTIATE_ALGORITHMS
            offered (b4: MULTI_KEY_CONN_RSP, 1.3).
        pqc_asym_alg / req_pqc_asym_alg / kem_alg: the 1.4 post-quantum
            selections (PqcAsymSel, ReqPqcAsymAlg, KEM); 0 when a classic
            algorithm (or nothing) was selected instead.
        algorithms_raw: the ALGORITHMS response as received.
    """

    version: SpdmVersion
    requester_flags: CapabilityFlags = CapabilityFlags(0)
    responder_flags: CapabilityFlags = CapabilityFlags(0)
    requester_ct_exponent: int = 0
    responder_ct_exponent: int = 0
    requester_data_transfer_size: int = 0
    responder_data_transfer_size: int = 0
    requester_max_spdm_msg_size: int = 0
    responder_max_spdm_msg_size: int = 0
    measurement_specification: int = 0
    other_params: int = 0
    requester_other_params: int = 0
    hash_alg: BaseHashAlgo = BaseHashAlgo(0)
    asym_alg: BaseAsymAlgo = BaseAsymAlgo(0)
    measurement_hash_alg: MeasurementHashAlgo = MeasurementHashAlgo(0)
    dhe_group: DheGroup = DheGroup(0)
    aead_suite: AeadSuite = AeadSuite(0)
    req_asym_alg: BaseAsymAlgo = BaseAsymAlgo(0)
    key_schedule: KeyScheduleAlgo = KeyScheduleAlgo(0)
    pqc_asym_alg: PqcAsymAlgo = PqcAsymAlgo(0)
    req_pqc_asym_alg: PqcAsymAlgo = PqcAsymAlgo(0)
    kem_alg: KemAlgo = KemAlgo(0)
    algorithms_raw: bytes = field(default=b"", repr=False, compare=False)

    @cached_property
    def hash_size(self) -> int:
        """H (looked up once: asked for every context and signed message)."""
        return hash_size(self.hash_alg)

    @cached_property
    def signature_size(self) -> int:
        """S of the responder's key (looked up once, as H)."""
        return signature_size(self.signing_alg) if self.signing_alg else 0

    @property
    def signing_alg(self) -> SigningAlgo:
        """The responder's signature algorithm: the PqcAsymSel (1.4) if one was selected,
        else the BaseAsymSel (what crypto.sign/verify take)."""
        return self.pqc_asym_alg if self.pqc_asym_alg else self.asym_alg

    @property
    def req_signing_alg(self) -> SigningAlgo:
        """The requester's signature algorithm: ReqPqcAsymAlg (1.4) if selected, else ReqBaseAsymAlg."""
        return self.req_pqc_asym_alg if self.req_pqc_asym_alg else self.req_asym_alg

    @property
    def key_exchange_sizes(self) -> tuple[int, int]:
        """ExchangeData sizes of KEY_EXCHANGE and KEY_EXCHANGE_RSP: the DHE public value both
        ways, or (1.4 KEM) the encapsulation key and the ciphertext; (0, 0) with neither."""
        if self.kem_alg:
            return kem_encapsulation_key_size(self.kem_alg), kem_ciphertext_size(self.kem_alg)
        size = dhe_public_size(self.dhe_group) if self.dhe_group else 0
        return size, size

    def both(self, flag: CapabilityFlags) -> bool:
        """Both sides advertise ``flag``."""
        # as ints: Flag's & would build a new enum member per operation
        value = int(flag)
        return bool(int(self.requester_flags) & value) and bool(int(self.responder_flags) & value)

    @property
    def multi_key(self) -> bool:
        """MULTI_KEY_CONN_RSP (1.3): the responder's DIGESTS carries key-pair data, its
        KeyUsageMasks bind, [D] enters the session transcripts.

        NEGOTIATE_ALGORITHMS' OtherParamsSupport b4 decides it, as libspdm and
        spdm-rs read DSP0274 1.3, for a responder with MULTI_KEY_CAP (one
        without it ignores the bit: see :mod:`spdm.responder.vca`).
        """
        # the int test first: asked per message, and an enum attribute costs more than it
        return (bool(self.requester_other_params & MULTI_KEY_CONN) and self.version >= SpdmVersion.V13
                and bool(int(self.responder_flags) & _MULTI_KEY_CAPS))

    @property
    def multi_key_req(self) -> bool:
        """MULTI_KEY_CONN_REQ (1.3): the same for the requester's keys (mutual
        authentication: the encapsulated DIGESTS, [D_encap]); ALGORITHMS'
        OtherParamsSelection b4 carries the responder's decision."""
        return bool(self.other_params & MULTI_KEY_CONN) and self.version >= SpdmVersion.V13

    def codec(self, *, measurement_summary: bool = False, signed: bool = False) -> CodecContext:
        """The decoding context these choices imply.

        Every message of a connection asks for one of these four (frozen) contexts: each is
        built once per :class:`Negotiated` (the sizes behind it take enum lookups).
        """
        key = (measurement_summary, signed)
        ctx = self._codecs.get(key)
        if ctx is None:
            ctx = self._codecs[key] = self._new_codec(measurement_summary, signed)
        return ctx

    @cached_property
    def _codecs(self) -> dict[tuple[bool, bool], CodecContext]:
        return {}

    def _new_codec(self, measurement_summary: bool, signed: bool) -> CodecContext:
        if measurement_summary or signed:  # the same sizes as the plain one: no second lookup
            return replace(self.codec(), measurement_summary=measurement_summary, signed=signed)
        dhe_size, dhe_rsp_size = self.key_exchange_sizes
        return CodecContext(
            hash_size=self.hash_size,
            signature_size=self.signature_size,
            measurement_summary=measurement_summary,
            signed=signed,
            dhe_size=dhe_size,
            dhe_rsp_size=dhe_rsp_size,
            req_signature_size=signature_size(self.req_signing_alg) if self.req_signing_alg else 0,
            handshake_in_the_clear=self.both(CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP),
            multi_key=self.multi_key,
        )


def highest_common_version(ours: Iterable[int], theirs: Iterable[int]) -> SpdmVersion:
    """The highest version both lists contain.

    Raises:
        NegotiationError: no version in common.
    """
    common = set(int(v) for v in ours) & set(int(v) for v in theirs)
    known = [v for v in common if v in SpdmVersion._value2member_map_]
    if not known:
        raise NegotiationError(
            f"no common SPDM version: ours {_versions_text(ours)}, theirs {_versions_text(theirs)}"
        )
    return SpdmVersion(max(known))


def _versions_text(versions: Iterable[int]) -> str:
    return ", ".join(f"{v >> 4}.{v & 0xF}" for v in versions) or "none"


def check_algorithms_response(
    response: Algorithms,
    *,
    version: SpdmVersion,
    offered: AlgorithmPreferences,
    requester_flags: CapabilityFlags,
    responder_flags: CapabilityFlags,
) -> None:
    """Requester-side check that ALGORITHMS picked one of what was offered.

    Raises:
        RemoteProtocolError: a selection is not a single bit, was not offered,
            or is missing although the capabilities need it.
    """

    def check(name: str, value: int, allowed: int, *, required: bool) -> None:
        if value == 0 and not required:
            return
        if not single_bit(value) or not value & allowed:
            raise RemoteProtocolError(
                f"ALGORITHMS selected {name} 0x{value:x}, not one of the offered 0x{allowed:x}"
            )

    prefs = offered.for_version(version)
    responder = int(responder_flags)
    needs_sig = bool(responder & _SIGNING_CAPS)
    check("BaseHashAlgo", response.base_hash_sel, mask_of(prefs.hash_algs), required=True)
    pqc_sel = response.pqc_asym_sel if version >= SpdmVersion.V14 else 0
    check("PqcAsymAlgo", pqc_sel, mask_of(prefs.pqc_asym_algs), required=False)
    if pqc_sel and response.base_asym_sel:
        raise RemoteProtocolError("ALGORITHMS selected both a BaseAsymAlgo and a PqcAsymAlgo")
    check("BaseAsymAlgo", response.base_asym_sel, mask_of(prefs.asym_algs),
          required=needs_sig and not pqc_sel)
    if responder & _MEAS_CAPS:
        # The requester offers no measurement hash: any single defined bit is acceptable.
        check("MeasurementHashAlgo", response.measurement_hash_algo, _MEASUREMENT_HASH_ALGS,
              required=True)
        if response.measurement_specification_sel != MeasurementSpecification.DMTF:
            raise RemoteProtocolError(
                f"ALGORITHMS selected measurement specification "
                f"0x{response.measurement_specification_sel:x}, not DMTF"
            )
    if version >= SpdmVersion.V11:
        _check_alg_structs(response, version, prefs, int(requester_flags) & responder, check)
    if response.ext_asym_sel or response.ext_hash_sel:
        raise RemoteProtocolError("ALGORITHMS selected an external algorithm that was not offered")


def _check_alg_structs(
    response: Algorithms,
    version: SpdmVersion,
    prefs: AlgorithmPreferences,
    both: int,
    check: Callable[..., None],
) -> None:
    """The AlgStruct selections: each offered, and DHE-or-KEM / ReqBaseAsym-or-ReqPqcAsym, never both."""
    sessions = bool(both & _SESSION_CAPS)
    if version < SpdmVersion.V14 and (response.alg_supported(_REQ_PQC_ASYM_ALG)
                                      or response.alg_supported(_KEM)):
        raise RemoteProtocolError(f"ALGORITHMS selected a post-quantum AlgStruct in SPDM {version.text}")
    kem = response.alg_supported(_KEM)
    dhe = response.alg_supported(_DHE)
    key_ex = bool(both & _KEY_EX_CAP)
    check("KEM", kem, mask_of(prefs.kem_algs), required=False)
    check("DHE group", dhe, mask_of(prefs.dhe_groups), required=key_ex and not kem)
    if kem and dhe:
        raise RemoteProtocolError("ALGORITHMS selected both a DHE group and a KEM")
    check("AEAD suite", response.alg_supported(_AEAD), mask_of(prefs.aead_suites),
          required=sessions)
    check("key schedule", response.alg_supported(_KEY_SCHEDULE),
          mask_of(prefs.key_schedules), required=sessions)
    mut_auth = bool(both & _MUT_AUTH_CAP)
    req_pqc = response.alg_supported(_REQ_PQC_ASYM_ALG)
    req_asym = response.alg_supported(_REQ_BASE_ASYM_ALG)
    check("ReqPqcAsymAlg", req_pqc, mask_of(prefs.req_pqc_asym_algs), required=False)
    check("ReqBaseAsymAlg", req_asym, mask_of(prefs.req_asym_algs), required=mut_auth and not req_pqc)
    if req_pqc and req_asym:
        raise RemoteProtocolError("ALGORITHMS selected both a ReqBaseAsymAlg and a ReqPqcAsymAlg")


_Flag = TypeVar("_Flag", bound=IntFlag)

_MEMBERS: dict[type[IntFlag], dict[int, IntFlag]] = {
    kind: {0: kind(0), **{int(member): member for member in kind}}
    for kind in (CapabilityFlags, BaseHashAlgo, BaseAsymAlgo, MeasurementHashAlgo, DheGroup, AeadSuite,
                 KeyScheduleAlgo, PqcAsymAlgo, KemAlgo)
}
"""Each kind's members by value (0 and the single bits): an Enum call costs some twenty dict lookups."""


def _as(kind: type[_Flag], value: int) -> _Flag:
    """``kind(value)``, looked up in :data:`_MEMBERS` when it is a member already, 0 or one defined bit."""
    if type(value) is kind:
        return value
    member = _MEMBERS[kind].get(value)
    return kind(value) if member is None else member  # type: ignore[return-value]


def negotiated_from(
    response: Algorithms,
    *,
    version: SpdmVersion,
    requester_flags: CapabilityFlags,
    responder_flags: CapabilityFlags,
    requester_ct_exponent: int,
    responder_ct_exponent: int,
    requester_sizes: tuple[int, int],
    responder_sizes: tuple[int, int],
    requester_other_params: int = 0,
) -> Negotiated:
    """Build the shared :class:`Negotiated` record from an accepted ALGORITHMS
    (``requester_other_params``: the request's OtherParamsSupport)."""
    return Negotiated(
        version=version,
        requester_flags=_as(CapabilityFlags, requester_flags),
        responder_flags=_as(CapabilityFlags, responder_flags),
        requester_ct_exponent=requester_ct_exponent,
        responder_ct_exponent=responder_ct_exponent,
        requester_data_transfer_size=requester_sizes[0],
        requester_max_spdm_msg_size=requester_sizes[1],
        responder_data_transfer_size=responder_sizes[0],
        responder_max_spdm_msg_size=responder_sizes[1],
        measurement_specification=response.measurement_specification_sel,
        other_params=response.other_params_selection,
        requester_other_params=requester_other_params,
        hash_alg=_as(BaseHashAlgo, response.base_hash_sel),
        asym_alg=_as(BaseAsymAlgo, response.base_asym_sel),
        measurement_hash_alg=_as(MeasurementHashAlgo, response.measurement_hash_algo),
        dhe_group=_as(DheGroup, response.alg_supported(_DHE)),
        aead_suite=_as(AeadSuite, response.alg_supported(_AEAD)),
        req_asym_alg=_as(BaseAsymAlgo, response.alg_supported(_REQ_BASE_ASYM_ALG)),
        key_schedule=_as(KeyScheduleAlgo, response.alg_supported(_KEY_SCHEDULE)),
        pqc_asym_alg=_as(PqcAsymAlgo, response.pqc_asym_sel if version >= SpdmVersion.V14 else 0),
        req_pqc_asym_alg=_as(PqcAsymAlgo, response.alg_supported(_REQ_PQC_ASYM_ALG)),
        kem_alg=_as(KemAlgo, response.alg_supported(_KEM)),
        algorithms_raw=response.raw,
    )
