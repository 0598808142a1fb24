"""DOE framing and discovery: the data objects CMA/SPDM travels in (PCIe 6.x §6.30, CMA §6.31).

Every SPDM case rides on these rules; here they are judged on their own,
with raw objects sent through the case's transport (PROTOCOLS.md §1.2-§1.4):
Discovery lists the protocols, responses are dword-padded and counted in
dwords, and an object the device cannot take is dropped.

Decision on malformed and unknown objects: dropped, with no response object
(PCIe 6.x §6.30.2; what libspdm's DOE decoder and devsec's endpoint do).  How
"no response" shows depends on the transport: the in-process pipe and the
spdm-emu socket (an empty NORMAL reply) say so at once; a DOE mailbox only by
never setting Data Object Ready, so each dropped object there costs the
driver's timeout (PCIe's 1 s), the one sound wait.  A mailbox driver writes
exactly the dwords a header counts, so the Length cases cannot reach a
mailbox and are skipped there; the mailbox's own register rules (Abort, a
request written while a response is pending) are the ``mailbox-*`` cases,
which run only on a mailbox (``CaseContext.device_transport``) and record
each register step as an exchange: the object written, and the DOE Status
register as read (4 bytes, little-endian).
"""

from __future__ import annotations

import struct
import time

from spdm.errors import DecodeError, LocalProtocolError, TransportError
from spdm.messages import GetVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.transport import DoeMailbox
from spdm.transport.configspace import ConfigSpace, DeviceMailbox
from spdm.transport.doe import (
    DOE_HEADER_SIZE,
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    DiscoveryRequest,
    decode_discovery_response,
    encode_data_object,
    encode_discovery_request,
)
from spdm.transport.mailbox import (
    DOE_CONTROL,
    DOE_CONTROL_ABORT,
    DOE_CONTROL_GO,
    DOE_STATUS,
    DOE_STATUS_BUSY,
    DOE_STATUS_DATA_OBJECT_READY,
    DOE_STATUS_ERROR,
    DOE_WRITE_MAILBOX,
)

from .context import CaseContext, Exchange
from .registry import case

__all__ = ["discovery", "framing", "length_mismatch", "length_too_small", "mailbox_abort", "mailbox_busy",
           "unknown_type", "unknown_vendor"]
"""The case bodies."""

DOE = "PCIe 6.x §6.30.1; PROTOCOLS.md §1.2"
DROP = "PCIe 6.x §6.30.1-§6.30.2; PROTOCOLS.md §1.2"
MAILBOX = "PCIe 6.x §6.30.2, §7.9.24; PROTOCOLS.md §1.1"
SESSION_KINDS = F.KEY_EX_CAP | F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT
MAX_DISCOVERY_STEPS = 256
"""A Discovery index is one byte: a walk longer than this loops."""
UNKNOWN_TYPE = 0xF0
"""A PCI-SIG data object type no PCIe revision defines."""
UNKNOWN_VENDOR = 0xFFFF
"""A Vendor ID the PCI-SIG never assigns, so no device can serve a protocol of it."""
MAILBOX_WAIT = 1.0
"""Seconds a mailbox case waits for a Status change (PCIe's DOE timeout)."""


def _exchange(ctx: CaseContext, obj: bytes) -> bytes | None:
    """One raw object out; the raw response, or None when the device sent none."""
    try:
        return ctx.transport.exchange(obj)
    except TransportError:
        return None


def _spdm_object(payload: bytes, vendor_id: int = PCI_SIG_VENDOR_ID,
                 object_type: int = DataObjectType.SPDM) -> bytes:
    return encode_data_object(DataObject(vendor_id, object_type, payload))


def _discovery_object(index: int) -> bytes:
    request = encode_discovery_request(DiscoveryRequest(index))
    return _spdm_object(request, object_type=DataObjectType.DISCOVERY)


def _with_length(obj: bytes, dwords: int) -> bytes:
    """``obj`` with its DW1 Length field replaced (the 18-bit field; 0 means 2^18)."""
    return obj[:4] + struct.pack("<I", dwords & 0x3FFFF) + obj[8:]


def _on_mailbox(ctx: CaseContext) -> bool:
    return isinstance(ctx.device_transport, DoeMailbox | DeviceMailbox)


def _expect_dropped(ctx: CaseContext, what: str, obj: bytes) -> None:
    answer = _exchange(ctx, obj)
    ctx.check(what, answer is None, expected="no response object",
              actual="no response" if answer is None else f"a {len(answer)}-byte response object")
    again = _exchange(ctx, _spdm_object(GetVersion().encode()))
    ctx.check("a well-formed GET_VERSION is still answered afterwards", again is not None,
              expected="a response object", actual="one" if again is not None else "no response")


def _skip_on_mailbox(ctx: CaseContext) -> None:
    if _on_mailbox(ctx):
        ctx.skip("a DOE mailbox driver writes exactly the dwords the Length field counts; the mailbox's "
                 "own framing rules are the spdm.doe.mailbox-* cases")


def _walk(ctx: CaseContext) -> list[tuple[int, int]] | None:
    """DOE Discovery from index 0; None (recorded) when an answer is missing or malformed, or it loops."""
    protocols: list[tuple[int, int]] = []
    index, seen = 0, set()
    for _ in range(MAX_DISCOVERY_STEPS):
        raw = _exchange(ctx, _discovery_object(index))
        try:
            if raw is None or len(raw) != DOE_HEADER_SIZE + 4:
                raise DecodeError(f"{'no' if raw is None else len(raw)} response bytes, expected 12")
            entry = decode_discovery_response(raw[DOE_HEADER_SIZE:])
        except DecodeError as exc:
            ctx.check(f"Discovery index {index} is answered with one entry", False,
                      expected="a 1-dword Discovery response", actual=str(exc))
            return None
        protocols.append((entry.vendor_id, entry.object_type))
        seen.add(index)
        if entry.next_index == 0:
            return protocols
        if entry.next_index in seen:
            ctx.check("the Discovery walk ends", False, expected="Next Index 0 at the last entry",
                      actual=f"index {index} leads back to {entry.next_index}")
            return None
        index = entry.next_index
    return None


@case("spdm.doe.discovery", "DOE Discovery index 0 is Discovery itself; the walk lists CMA/SPDM (type 1) "
      "and, with sessions, secured CMA/SPDM (type 2), vendor 0x0001, and ends with Next Index 0",
      "PCIe 6.x §6.30.1.1, §6.31; PROTOCOLS.md §1.3-§1.4", standalone=True)
def discovery(ctx: CaseContext) -> None:
    """Decision: type 2 is required of a device that advertises KEY_EX_CAP or PSK_CAP at a
    version it speaks (secured CMA carries its sessions); type 1 of every device."""
    protocols = _walk(ctx)
    if protocols is None:
        return
    discovery_entry = (PCI_SIG_VENDOR_ID, DataObjectType.DISCOVERY)
    ctx.equal("index 0 is DOE Discovery (0001:00)", discovery_entry, protocols[0])
    ctx.check("CMA/SPDM (0001:01) is listed", (PCI_SIG_VENDOR_ID, DataObjectType.SPDM) in protocols,
              expected="0001:01 listed", actual=protocols)
    if any(flags & SESSION_KINDS for flags in ctx.profile.flags.values()):
        ctx.check("secured CMA/SPDM (0001:02) is listed",
                  (PCI_SIG_VENDOR_ID, DataObjectType.SECURED_SPDM) in protocols,
                  expected="0001:02 listed", actual=protocols)
    ctx.equal("each protocol is listed once", len(set(protocols)), len(protocols))


@case("spdm.doe.framing", "Responses are whole dwords, their Length field counts them (header "
      "included), and the pad after the SPDM message is zero", DOE, standalone=True)
def framing(ctx: CaseContext) -> None:
    """Judged on the answers to GET_VERSION (VERSION's size is rarely whole dwords) and to
    Discovery index 0."""
    requests = (("VERSION", _spdm_object(GetVersion().encode())), ("Discovery", _discovery_object(0)))
    for name, request in requests:
        raw = _exchange(ctx, request)
        if not ctx.check(f"the {name} request is answered", raw is not None, expected="a response object",
                         actual="no response"):
            continue
        assert raw is not None
        ctx.equal(f"the {name} response is a whole number of dwords", 0, len(raw) % 4)
        length = struct.unpack_from("<I", raw, 4)[0] & 0x3FFFF if len(raw) >= 8 else -1
        ctx.equal(f"the {name} response's Length field counts its dwords", len(raw) // 4, length or 1 << 18)
        payload = raw[DOE_HEADER_SIZE:]
        if name == "VERSION" and len(payload) >= 6 and payload[1] == 0x04:  # 6 bytes, then 2 per entry
            size = 6 + 2 * payload[5]
            ctx.equal("the pad after VERSION is zero", bytes(len(payload) - size), payload[size:])


@case("spdm.doe.length-mismatch", "An object whose Length disagrees with the dwords sent is dropped",
      DROP, standalone=True)
def length_mismatch(ctx: CaseContext) -> None:
    _skip_on_mailbox(ctx)
    obj = _spdm_object(GetVersion().encode())
    _expect_dropped(ctx, "Length one dword more than sent: dropped", _with_length(obj, len(obj) // 4 + 1))
    _expect_dropped(ctx, "Length one dword less than sent: dropped", _with_length(obj, len(obj) // 4 - 1))


@case("spdm.doe.length-too-small", "An object whose Length is 0 (2^18 dwords) or 1 (less than its "
      "header) is dropped", DROP, standalone=True)
def length_too_small(ctx: CaseContext) -> None:
    _skip_on_mailbox(ctx)
    obj = _spdm_object(GetVersion().encode())
    _expect_dropped(ctx, "Length 0 on a 3-dword object: dropped", _with_length(obj, 0))
    _expect_dropped(ctx, "Length 1: dropped", _with_length(obj, 1))


@case("spdm.doe.unknown-type", "An object of a data object type the device does not list is dropped",
      DROP, standalone=True)
def unknown_type(ctx: CaseContext) -> None:
    _expect_dropped(ctx, f"type 0x{UNKNOWN_TYPE:02x} (vendor 0x0001): dropped",
                    _spdm_object(GetVersion().encode(), object_type=UNKNOWN_TYPE))


@case("spdm.doe.unknown-vendor", "An object of a Vendor ID the device does not serve is dropped",
      DROP, standalone=True)
def unknown_vendor(ctx: CaseContext) -> None:
    _expect_dropped(ctx, f"vendor 0x{UNKNOWN_VENDOR:04x} type 1: dropped",
                    _spdm_object(GetVersion().encode(), vendor_id=UNKNOWN_VENDOR))


def _registers(ctx: CaseContext) -> tuple[ConfigSpace, int]:
    """The mailbox's config space and capability offset, or skip when the target is no mailbox."""
    transport = ctx.device_transport
    mailbox = transport.mailbox if isinstance(transport, DeviceMailbox) else transport
    if not isinstance(mailbox, DoeMailbox):
        ctx.skip("the target is not a DOE mailbox (the register rules need one)")
    return mailbox.config, mailbox.cap_offset


def _status_until(config: ConfigSpace, base: int, done: int, clear: int) -> int:
    """Status once every ``done`` bit is set and every ``clear`` bit clear (or the last read, timed out)."""
    deadline = time.monotonic() + MAILBOX_WAIT
    while True:
        status = config.read32(base + DOE_STATUS)
        if (status & done) == done and not status & clear or time.monotonic() > deadline:
            return status
        time.sleep(1e-4)


def _write_object(config: ConfigSpace, base: int, obj: bytes) -> None:
    for (dword,) in struct.iter_unpack("<I", obj):
        config.write32(base + DOE_WRITE_MAILBOX, dword)
    config.write32(base + DOE_CONTROL, DOE_CONTROL_GO)


def _status_text(status: int) -> str:
    bits = [name for bit, name in ((DOE_STATUS_BUSY, "Busy"), (DOE_STATUS_ERROR, "Error"),
                                   (DOE_STATUS_DATA_OBJECT_READY, "Data Object Ready")) if status & bit]
    return "+".join(bits) or "idle"


def _record_status(ctx: CaseContext, written: bytes, status: int) -> None:
    """Record a register step as an exchange: the object written, and Status as read (4 bytes, LE)."""
    ctx.exchanges.append(Exchange(written, struct.pack("<I", status)))


def _abort_clean(ctx: CaseContext, config: ConfigSpace, base: int, what: str) -> None:
    config.write32(base + DOE_CONTROL, DOE_CONTROL_ABORT)
    status = _status_until(config, base, 0, DOE_STATUS_BUSY | DOE_STATUS_ERROR | DOE_STATUS_DATA_OBJECT_READY)
    _record_status(ctx, struct.pack("<I", DOE_CONTROL_ABORT), status)
    ctx.equal(what, "idle", _status_text(status), reference=MAILBOX)
    answer = _exchange(ctx, _spdm_object(GetVersion().encode()))
    ctx.check("the mailbox then carries a GET_VERSION exchange", answer is not None,
              expected="a response object", actual="one" if answer is not None else "no response",
              reference=MAILBOX)


@case("spdm.doe.mailbox-abort", "DOE Abort discards a pending response: Busy, Error and Data Object "
      "Ready clear, and the next exchange works", MAILBOX, standalone=True)
def mailbox_abort(ctx: CaseContext) -> None:
    config, base = _registers(ctx)
    try:
        _write_object(config, base, _spdm_object(GetVersion().encode()))
    except (LocalProtocolError, TransportError) as exc:
        ctx.check("the request is written", False, expected="written", actual=str(exc))
        return
    status = _status_until(config, base, DOE_STATUS_DATA_OBJECT_READY, DOE_STATUS_BUSY)
    _record_status(ctx, _spdm_object(GetVersion().encode()), status)
    ctx.equal("the response is pending", "Data Object Ready", _status_text(status))
    _abort_clean(ctx, config, base, "after Abort, Status is idle")


@case("spdm.doe.mailbox-busy", "While a response is pending, a new request is not taken: the mailbox "
      "shows Busy or Error, and Abort recovers it", MAILBOX, standalone=True)
def mailbox_busy(ctx: CaseContext) -> None:
    """Decision: writing a request while a response waits to be read is the host's error; the
    device may refuse it with Busy or Error, but must not lose track (Data Object Ready with a
    new response replacing the old is a failure too)."""
    config, base = _registers(ctx)
    request = _spdm_object(GetVersion().encode())
    _write_object(config, base, request)
    _status_until(config, base, DOE_STATUS_DATA_OBJECT_READY, DOE_STATUS_BUSY)
    _write_object(config, base, request)
    status = config.read32(base + DOE_STATUS)
    _record_status(ctx, request, status)
    ctx.check("a request written over a pending response is refused",
              bool(status & (DOE_STATUS_BUSY | DOE_STATUS_ERROR)), expected="Busy or Error",
              actual=_status_text(status))
    _abort_clean(ctx, config, base, "after Abort, Status is idle")
