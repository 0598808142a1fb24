"""Opaque data tables and secured-message version negotiation (PROTOCOLS.md §3.13).

KEY_EXCHANGE/PSK_EXCHANGE carry the requester's supported DSP0277 versions in
their OpaqueData, and the responses carry the selected one.  Two table formats
exist: SPDM 1.2+ OpaqueDataFmt1 (the DSP0274 "general opaque data" table) and,
for SPDM 1.1, the DSP0277 1.0 table that starts with the SpecID "FTMD".  Both
hold the same elements.  We send the version's own format and accept either,
because peers mix them.

Same rules as the message codec (R6): module-level Structs, ``this``/``len_``
expressions, malformed bytes -> ``DecodeError`` through
:func:`~spdm.schema.parse_exact`, values that do not fit ->
``LocalProtocolError`` through :func:`~spdm.schema.build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from construct import (
    Array,
    Bytes,
    Const,
    Construct,
    Int8ul,
    Int16ul,
    Int32ul,
    Padding,
    Rebuild,
    Struct,
    len_,
    this,
)

from ..codec import NO_PARAMS
from ..errors import DecodeError, LocalProtocolError
from ..record import record
from ..schema import build, parse_exact
from .codes import RegistryId

__all__ = [
    "SECURED_MESSAGE_VERSIONS",
    "GeneralOpaqueDataTable",
    "OpaqueElement",
    "OpaqueElementTable",
    "SecuredMessageGeneralOpaqueDataTable",
    "SecuredMessageSupportedVersion",
    "SecuredMessageVersionSelection",
    "decode_opaque",
    "encode_opaque",
    "parse_secured_message_versions",
    "parse_version_selection",
    "supported_versions_element",
    "version_selection_element",
]

SECURED_MESSAGE_VERSIONS: Final[tuple[int, ...]] = (0x1000, 0x1100, 0x1200)
"""The DSP0277 versions we speak, as u16 version numbers (major.minor.update.alpha nibbles)."""

SPEC_ID_DMTF: Final = 0x444D5446
"""DSP0277 1.0 table SpecID; little-endian on the wire, so the bytes read "FTMD"."""

_SPEC_ID_BYTES: Final = SPEC_ID_DMTF.to_bytes(4, "little")
_SM_DATA_VERSION: Final = 1
_SM_VERSION_SELECTION: Final = 0
_SM_SUPPORTED_VERSION: Final = 1

# One element of either table (DSP0274 1.2 "general opaque data" element; DSP0277 1.0 the same).
# The element (header, vendor ID, data) is zero-padded to a multiple of 4 bytes.
OpaqueElementTable = Struct(
    "registry_id" / Int8ul,
    "_vendor_len" / Rebuild(Int8ul, len_(this.vendor_id)),
    "vendor_id" / Bytes(this._vendor_len),
    "_data_len" / Rebuild(Int16ul, len_(this.data)),
    "data" / Bytes(this._data_len),
    Padding((4 - (this._vendor_len + this._data_len) % 4) % 4),
)

# DSP0274 1.2+ OpaqueDataFmt1: TotalElements(1) Reserved(3) elements.
GeneralOpaqueDataTable = Struct(
    "_total_elements" / Rebuild(Int8ul, len_(this.elements)),
    Padding(3),
    "elements" / Array(this._total_elements, OpaqueElementTable),
)

# DSP0277 1.0 (SPDM 1.1): SpecID(4) OpaqueVersion(1) TotalElements(1) Reserved(2) elements.
SecuredMessageGeneralOpaqueDataTable = Struct(
    "_spec_id" / Const(SPEC_ID_DMTF, Int32ul),
    "_opaque_version" / Const(1, Int8ul),
    "_total_elements" / Rebuild(Int8ul, len_(this.elements)),
    Padding(2),
    "elements" / Array(this._total_elements, OpaqueElementTable),
)

# DMTF secured-message element data: SMDataVersion(1)=1 SMDataID(1) body.
SecuredMessageVersionSelection = Struct(
    "_sm_data_version" / Const(_SM_DATA_VERSION, Int8ul),
    "_sm_data_id" / Const(_SM_VERSION_SELECTION, Int8ul),
    "selected_version" / Int16ul,
)

SecuredMessageSupportedVersion = Struct(
    "_sm_data_version" / Const(_SM_DATA_VERSION, Int8ul),
    "_sm_data_id" / Const(_SM_SUPPORTED_VERSION, Int8ul),
    "_version_count" / Rebuild(Int8ul, len_(this.versions)),
    "versions" / Array(this._version_count, Int16ul),
)


@record(frozen=True)
class OpaqueElement:
    """One opaque-data element.

    Attributes:
        registry_id: the standards body (:class:`~spdm.messages.codes.RegistryId`; 0 = DMTF).
        vendor_id: the body's vendor ID (empty for DMTF).
        data: OpaqueElementData, without the alignment padding.
    """

    registry_id: int
    vendor_id: bytes
    data: bytes


def _table(spdm_version: int) -> Construct:
    return GeneralOpaqueDataTable if spdm_version >= 0x12 else SecuredMessageGeneralOpaqueDataTable


def encode_opaque(spdm_version: int, elements: Sequence[OpaqueElement]) -> bytes:
    """Build OpaqueData in the table format of the negotiated SPDM version.

    SPDM 1.2+ uses OpaqueDataFmt1 (the caller negotiated it in ALGORITHMS);
    SPDM 1.1 uses the DSP0277 1.0 table.

    Args:
        spdm_version: the negotiated SPDMVersion byte (0x11 or later).
        elements: the elements, in order.

    Returns:
        The OpaqueData bytes (the message codec adds OpaqueDataLength).

    Raises:
        LocalProtocolError: SPDM 1.0 (no sessions), or an element field that does not fit.
    """
    if spdm_version < 0x11:
        raise LocalProtocolError(f"SPDM {spdm_version:#x} has no secured-message opaque data")
    values = {"elements": [
        {"registry_id": e.registry_id, "vendor_id": e.vendor_id, "data": e.data} for e in elements
    ]}
    return build(_table(spdm_version), values, NO_PARAMS, what="OpaqueData")


def decode_opaque(data: bytes, spdm_version: int) -> tuple[OpaqueElement, ...]:
    """Decode OpaqueData in either table format.

    The negotiated version's own format is tried first, then the other one:
    peers do not always switch tables with the SPDM version, so the older
    general format is accepted where they send it (and Fmt1 at 1.1 likewise).
    Only contrived bytes parse both ways; the version's own format wins then.

    Args:
        data: the OpaqueData bytes (without OpaqueDataLength).
        spdm_version: the negotiated SPDMVersion byte.

    Returns:
        The elements; ``()`` for empty opaque data.

    Raises:
        DecodeError: the bytes are neither table, or trail the last element.
    """
    if not data:
        return ()
    own = _table(spdm_version)
    other = GeneralOpaqueDataTable if own is SecuredMessageGeneralOpaqueDataTable else (
        SecuredMessageGeneralOpaqueDataTable)
    try:
        table, _ = parse_exact(own, bytes(data), NO_PARAMS, padded=False, what="OpaqueData")
    except DecodeError as first:
        try:
            table, _ = parse_exact(other, bytes(data), NO_PARAMS, padded=False, what="OpaqueData")
        except DecodeError as second:
            raise DecodeError(f"{first}; nor the other table format: {second}") from second
    return tuple(
        OpaqueElement(int(e["registry_id"]), bytes(e["vendor_id"]), bytes(e["data"]))
        for e in table["elements"])


def supported_versions_element(versions: Sequence[int] = SECURED_MESSAGE_VERSIONS) -> OpaqueElement:
    """The requester's SupportedVersion element (SMDataID 1) for KEY_EXCHANGE/PSK_EXCHANGE.

    Args:
        versions: DSP0277 version numbers (u16), in the order to offer them.

    Raises:
        LocalProtocolError: no versions, more than 255, or one that is not a u16.
    """
    if not versions:
        raise LocalProtocolError("SupportedVersion needs at least one secured-message version")
    data = build(SecuredMessageSupportedVersion, {"versions": list(versions)}, NO_PARAMS,
                 what="SupportedVersion")
    return OpaqueElement(RegistryId.DMTF, b"", data)


def version_selection_element(version: int) -> OpaqueElement:
    """The responder's VersionSelection element (SMDataID 0) for KEY_EXCHANGE_RSP/PSK_EXCHANGE_RSP.

    Raises:
        LocalProtocolError: ``version`` is not a u16.
    """
    data = build(SecuredMessageVersionSelection, {"selected_version": version}, NO_PARAMS,
                 what="VersionSelection")
    return OpaqueElement(RegistryId.DMTF, b"", data)


def _secured_message_element(elements: Iterable[OpaqueElement], sm_data_id: int,
                             struct: Construct, what: str) -> dict[str, Any] | None:
    # The first DMTF element of this SMDataID; elements of other bodies, SMDataIDs
    # (e.g. the 1.3 AEAD limit) or SMDataVersions are not ours to interpret.
    for element in elements:
        if (element.registry_id == RegistryId.DMTF and not element.vendor_id
                and element.data[:2] == bytes((_SM_DATA_VERSION, sm_data_id))):
            fields, _ = parse_exact(struct, element.data, NO_PARAMS, padded=False, what=what)
            return fields
    return None


def parse_secured_message_versions(elements: Iterable[OpaqueElement]) -> tuple[int, ...] | None:
    """The peer's SupportedVersion list.

    Returns:
        The offered DSP0277 versions in the peer's order, or None if no element carries them.

    Raises:
        DecodeError: the SupportedVersion element is malformed.
    """
    fields = _secured_message_element(elements, _SM_SUPPORTED_VERSION, SecuredMessageSupportedVersion,
                                          "SupportedVersion")
    return None if fields is None else tuple(int(v) for v in fields["versions"])


def parse_version_selection(elements: Iterable[OpaqueElement]) -> int | None:
    """The responder's selected DSP0277 version.

    Returns:
        The selected version, or None if no element carries it.

    Raises:
        DecodeError: the VersionSelection element is malformed.
    """
    fields = _secured_message_element(elements, _SM_VERSION_SELECTION, SecuredMessageVersionSelection,
                                          "VersionSelection")
    return None if fields is None else int(fields["selected_version"])
