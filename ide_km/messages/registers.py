"""The IDE register block QUERY_RESP carries (PROTOCOLS.md §8.5; PCIe 6.x §7.9.26, Linux pci_regs.h).

QUERY_RESP copies the port's IDE Extended Capability from the IDE Capability
register on: Capability, Control, the link stream blocks (when Link IDE is
supported, one per TC), then the selective stream blocks (when Selective IDE
is supported) with their RID and address associations.  Registers are
little-endian DWs; each ``ByteSwapped(BitStruct(...))`` lists its fields from
b31 down to b0.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    ByteSwapped,
    Construct,
    ExprAdapter,
    ExprValidator,
    Flag,
    GreedyRange,
    Int32ul,
    Padding,
    Rebuild,
    Struct,
    len_,
    obj_,
    this,
)

from spdm.errors import DecodeError
from spdm.record import record

from .codes import StreamState

__all__ = [
    "AddressAssociation",
    "AddressAssociationBlock",
    "IdeCapability",
    "IdeCapabilityRegister",
    "IdeControl",
    "IdeControlRegister",
    "IdeRegisterBlock",
    "IdeRegisterBlockStruct",
    "LinkStream",
    "LinkStreamBlock",
    "LinkStreamControlRegister",
    "RidAssociation",
    "SelectiveStream",
    "SelectiveStreamBlock",
    "SelectiveStreamControlRegister",
    "StreamControl",
    "StreamStatus",
    "StreamStatusRegister",
    "register_block_fields",
    "register_block_from",
]


def _count_minus_one(bits: int) -> Construct:
    """A field holding a count minus one."""
    return ExprAdapter(BitsInteger(bits), obj_ + 1, obj_ - 1)


# IDE Capability Register (IDE Extended Capability + 0x04)
IdeCapabilityRegister = ByteSwapped(BitStruct(
    Padding(7),                                         # b31:25 reserved
    "tee_limited_stream" / Flag,                        # b24
    "selective_stream_count" / _count_minus_one(8),     # b23:16 Number of Selective IDE Streams - 1
    "link_tc_count" / _count_minus_one(3),              # b15:13 Number of TCs for Link IDE - 1
    "supported_algorithms" / BitsInteger(5),            # b12:8 (00000b AES-GCM-256, 96-bit MAC)
    "selective_ide_for_config" / Flag,                  # b7
    "ide_km" / Flag,                                    # b6 IDE_KM protocol supported (responder)
    "pcrc" / Flag,                                      # b5
    "aggregation" / Flag,                               # b4
    "partial_header_encryption" / Flag,                 # b3
    "flow_through_ide" / Flag,                          # b2
    "selective_ide" / Flag,                             # b1
    "link_ide" / Flag,                                  # b0
))

# IDE Control Register (+ 0x08)
IdeControlRegister = ByteSwapped(BitStruct(
    Padding(29),
    "flow_through_enable" / Flag,                       # b2
    Padding(2),
))

# Link IDE Stream Control Register: b9, b22, b23 are reserved for link streams.
LinkStreamControlRegister = ByteSwapped(BitStruct(
    "stream_id" / BitsInteger(8),                       # b31:24
    Padding(2),                                         # b23:22
    "tc" / BitsInteger(3),                              # b21:19
    "algorithm" / BitsInteger(5),                       # b18:14
    "partial_header_encryption_mode" / BitsInteger(4),  # b13:10
    Padding(1),                                         # b9
    "pcrc_enable" / Flag,                               # b8
    "tx_aggregation_cpl" / BitsInteger(2),              # b7:6
    "tx_aggregation_pr" / BitsInteger(2),               # b5:4
    "tx_aggregation_npr" / BitsInteger(2),              # b3:2
    Padding(1),                                         # b1
    "enable" / Flag,                                    # b0
))

# Selective IDE Stream Control Register
SelectiveStreamControlRegister = ByteSwapped(BitStruct(
    "stream_id" / BitsInteger(8),                       # b31:24
    "tee_limited" / Flag,                               # b23
    "default_stream" / Flag,                            # b22
    "tc" / BitsInteger(3),
    "algorithm" / BitsInteger(5),
    "partial_header_encryption_mode" / BitsInteger(4),
    "config_requests" / Flag,                           # b9
    "pcrc_enable" / Flag,
    "tx_aggregation_cpl" / BitsInteger(2),
    "tx_aggregation_pr" / BitsInteger(2),
    "tx_aggregation_npr" / BitsInteger(2),
    Padding(1),
    "enable" / Flag,
))

# Link/Selective IDE Stream Status Register
StreamStatusRegister = ByteSwapped(BitStruct(
    "integrity_check_fail_received" / Flag,             # b31 Received Integrity Check Fail Message
    Padding(27),
    "state" / BitsInteger(4),                           # b3:0
))

LinkStreamBlock = Struct(
    "control" / LinkStreamControlRegister,
    "status" / StreamStatusRegister,
)

# IDE Address Association Register Block: register 1, Memory Limit Upper, Memory Base Upper.
AddressAssociationBlock = Struct(
    "reg1" / ByteSwapped(BitStruct(
        "memory_limit_lower" / BitsInteger(12),         # b31:20 = address[31:20] (low 20 bits all 1)
        "memory_base_lower" / BitsInteger(12),          # b19:8 = address[31:20] (low 20 bits all 0)
        Padding(7),
        "valid" / Flag,                                 # b0
    )),
    "memory_limit_upper" / Int32ul,
    "memory_base_upper" / Int32ul,
)

SelectiveStreamBlock = Struct(
    # Selective IDE Stream Capability Register: b3:0 Number of Address Association Register Blocks
    "_address_association_count" / Rebuild(
        ExprValidator(ExprAdapter(Int32ul, obj_ & 0x0F, obj_), obj_ <= 0x0F),
        len_(this.address_associations),
    ),
    "control" / SelectiveStreamControlRegister,
    "status" / StreamStatusRegister,
    "rid_association_1" / ByteSwapped(BitStruct(
        Padding(8),
        "rid_limit" / BitsInteger(16),                  # b23:8
        Padding(8),
    )),
    "rid_association_2" / ByteSwapped(BitStruct(
        "segment_base" / BitsInteger(8),                # b31:24
        "rid_base" / BitsInteger(16),                   # b23:8
        Padding(7),
        "valid" / Flag,                                 # b0
    )),
    "address_associations" / Array(this._address_association_count, AddressAssociationBlock),
)

# The QUERY_RESP register block (§8.5): the IDE Extended Capability from cap+0x04 on.
IdeRegisterBlockStruct = Struct(
    "capability" / IdeCapabilityRegister,
    "control" / IdeControlRegister,
    "link_streams" / Array(this.capability.link_ide * this.capability.link_tc_count, LinkStreamBlock),
    "selective_streams" / Array(
        this.capability.selective_ide * this.capability.selective_stream_count, SelectiveStreamBlock),
    # spdm-emu's sample reports a fixed 74-DW buffer whatever its capability says: keep what follows.
    "extra_registers" / GreedyRange(Int32ul),
)


@record(frozen=True, slots=True)
class IdeCapability:
    """IDE Capability Register (§8.5).  Counts are real counts (the register holds count - 1)."""

    link_ide: bool = False
    selective_ide: bool = False
    flow_through_ide: bool = False
    partial_header_encryption: bool = False
    aggregation: bool = False
    pcrc: bool = False
    ide_km: bool = False
    selective_ide_for_config: bool = False
    supported_algorithms: int = 0
    link_tc_count: int = 1
    selective_stream_count: int = 1
    tee_limited_stream: bool = False


@record(frozen=True, slots=True)
class IdeControl:
    """IDE Control Register."""

    flow_through_enable: bool = False


@record(frozen=True, slots=True)
class StreamControl:
    """Link or Selective IDE Stream Control Register (config_requests, default_stream and
    tee_limited exist for selective streams only; a link stream builds them as 0)."""

    stream_id: int = 0
    enable: bool = False
    tx_aggregation_npr: int = 0
    tx_aggregation_pr: int = 0
    tx_aggregation_cpl: int = 0
    pcrc_enable: bool = False
    config_requests: bool = False
    partial_header_encryption_mode: int = 0
    algorithm: int = 0
    tc: int = 0
    default_stream: bool = False
    tee_limited: bool = False


@record(frozen=True, slots=True)
class StreamStatus:
    """Link or Selective IDE Stream Status Register."""

    state: StreamState = StreamState.INSECURE
    integrity_check_fail_received: bool = False


@record(frozen=True, slots=True)
class LinkStream:
    """One Link IDE stream register block (one per TC)."""

    control: StreamControl = StreamControl()
    status: StreamStatus = StreamStatus()


@record(frozen=True, slots=True)
class RidAssociation:
    """IDE RID Association Registers 1 and 2 of a selective stream."""

    valid: bool = False
    rid_base: int = 0
    rid_limit: int = 0
    segment_base: int = 0


@record(frozen=True, slots=True)
class AddressAssociation:
    """One IDE Address Association Register Block (a memory range at 1 MiB granularity)."""

    valid: bool = False
    memory_base_lower: int = 0
    memory_limit_lower: int = 0
    memory_base_upper: int = 0
    memory_limit_upper: int = 0

    @classmethod
    def covering(cls, base: int, limit: int) -> Self:
        """The valid block for ``base``..``limit`` (base rounded down, limit up, to 1 MiB)."""
        return cls(True, (base >> 20) & 0xFFF, (limit >> 20) & 0xFFF, base >> 32, limit >> 32)

    @property
    def base(self) -> int:
        """The first address of the range."""
        return self.memory_base_upper << 32 | self.memory_base_lower << 20

    @property
    def limit(self) -> int:
        """The last address of the range."""
        return self.memory_limit_upper << 32 | self.memory_limit_lower << 20 | 0xFFFFF


@record(frozen=True, slots=True)
class SelectiveStream:
    """One Selective IDE stream register block with its address associations."""

    control: StreamControl = StreamControl()
    status: StreamStatus = StreamStatus()
    rid_association: RidAssociation = RidAssociation()
    address_associations: tuple[AddressAssociation, ...] = ()


@record(frozen=True, slots=True)
class IdeRegisterBlock:
    """The IDE register block of QUERY_RESP (§8.5).

    Attributes:
        capability / control: IDE Capability and Control registers.
        link_streams: one block per TC when Link IDE is supported, else empty.
        selective_streams: one block per selective stream when supported, else empty.
        extra_registers: DWs after the blocks the capability accounts for,
            kept verbatim (spdm-emu's sample sends 72 zero DWs there).
    """

    capability: IdeCapability = IdeCapability()
    control: IdeControl = IdeControl()
    link_streams: tuple[LinkStream, ...] = ()
    selective_streams: tuple[SelectiveStream, ...] = ()
    extra_registers: tuple[int, ...] = ()


def _status(fields: dict[str, Any]) -> StreamStatus:
    try:
        state = StreamState(fields["state"])
    except ValueError as exc:
        raise DecodeError(f"IDE stream state {fields['state']} is reserved") from exc
    return StreamStatus(state, fields["integrity_check_fail_received"])


def register_block_from(fields: dict[str, Any]) -> IdeRegisterBlock:
    """The dataclass of a parsed :data:`IdeRegisterBlockStruct` (its plain fields, from spdm's codec).

    Raises:
        DecodeError: a stream status holds a reserved state.
    """
    def selective(s: dict[str, Any]) -> SelectiveStream:
        rid_1, rid_2 = s["rid_association_1"], s["rid_association_2"]
        return SelectiveStream(
            StreamControl(**s["control"]),
            _status(s["status"]),
            RidAssociation(rid_2["valid"], rid_2["rid_base"], rid_1["rid_limit"], rid_2["segment_base"]),
            tuple(AddressAssociation(a["reg1"]["valid"], a["reg1"]["memory_base_lower"],
                                     a["reg1"]["memory_limit_lower"], a["memory_base_upper"],
                                     a["memory_limit_upper"])
                  for a in s["address_associations"]),
        )

    return IdeRegisterBlock(
        capability=IdeCapability(**fields["capability"]),
        control=IdeControl(**fields["control"]),
        link_streams=tuple(
            LinkStream(StreamControl(**s["control"]), _status(s["status"])) for s in fields["link_streams"]),
        selective_streams=tuple(selective(s) for s in fields["selective_streams"]),
        extra_registers=tuple(fields["extra_registers"]),
    )


def register_block_fields(block: IdeRegisterBlock) -> dict[str, Any]:
    """The build values of :data:`IdeRegisterBlockStruct` for ``block``."""
    def selective(s: SelectiveStream) -> dict[str, Any]:
        rid = s.rid_association
        return {
            "control": dataclasses.asdict(s.control),
            "status": dataclasses.asdict(s.status),
            "rid_association_1": {"rid_limit": rid.rid_limit},
            "rid_association_2": {"valid": rid.valid, "rid_base": rid.rid_base,
                                  "segment_base": rid.segment_base},
            "address_associations": [
                {"reg1": {"valid": a.valid, "memory_base_lower": a.memory_base_lower,
                          "memory_limit_lower": a.memory_limit_lower},
                 "memory_base_upper": a.memory_base_upper, "memory_limit_upper": a.memory_limit_upper}
                for a in s.address_associations],
        }

    return {
        "capability": dataclasses.asdict(block.capability),
        "control": dataclasses.asdict(block.control),
        "link_streams": [dataclasses.asdict(s) for s in block.link_streams],
        "selective_streams": [selective(s) for s in block.selective_streams],
        "extra_registers": list(block.extra_registers),
    }
