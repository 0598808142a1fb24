"""Requester event cases: event requests go only to a device that offers events.

The device here does not advertise EVENT_CAP (the emulator's default), so a
conforming requester sends no GET_SUPPORTED_EVENT_TYPES or
SUBSCRIBE_EVENT_TYPES at all (DSP0274 1.3: a requester sends them only to an
Event Notifier, and only inside a session).
"""

from __future__ import annotations

from spdm.messages.codes import CapabilityFlags, RequestCode

from .context import RequesterContext
from .registry import case

__all__ = ["EVENT_REQUESTS", "without_event_cap"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

EVENT_REQUESTS = frozenset({RequestCode.GET_SUPPORTED_EVENT_TYPES, RequestCode.SUBSCRIBE_EVENT_TYPES})


@case("requester.events.without-cap", "GET_SUPPORTED_EVENT_TYPES and SUBSCRIBE_EVENT_TYPES go only to a "
      "device with EVENT_CAP (the device here has none), in a session or in the clear",
      "DSP0274 1.3 §10.4 Table 11, §10.22-10.23", without=CapabilityFlags.EVENT_CAP)
def without_event_cap(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
        sent = [e for e in run.exchanges if len(e.request) >= 2 and e.request[1] in EVENT_REQUESTS]
        ctx.check("no event request goes to a device without EVENT_CAP", not sent,
                  expected="no GET_SUPPORTED_EVENT_TYPES or SUBSCRIBE_EVENT_TYPES",
                  actual=f"{len(sent)} event request(s)", exchange=sent[0] if sent else run.last_clear)
