"""PSK_EXCHANGE cases that need no PSK of the device's.

A PSK session case needs the device's key, which the runner cannot carry yet
(no ``--psk`` run option); until it does, the suite judges only what any PSK
device must do: refuse a PSKHint it does not hold.
"""

from __future__ import annotations

import os

from spdm.messages import PskExchange
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.opaque import encode_opaque, supported_versions_element

from .context import CaseContext
from .registry import case
from .requests import vca

__all__ = ["unknown_hint"]
"""The case bodies (registered with :func:`.registry.case`)."""

ERROR = 0x7F


@case("spdm.psk.unknown-hint", "PSK_EXCHANGE naming a PSKHint the device does not hold is refused with "
      "an ERROR, not answered PSK_EXCHANGE_RSP", "DSP0274 1.3 Tables 69-72, §10.12; PROTOCOLS.md §3.10",
      per_version=True,
      min_version=0x11, needs_any=F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT)
def unknown_hint(ctx: CaseContext) -> None:
    """Decision: DSP0274 names no dedicated code for an unknown hint (libspdm and the emulator
    answer InvalidRequest), so any ERROR passes; a PSK_EXCHANGE_RSP means the device picked a
    key the requester never named."""
    vca(ctx)
    hint = os.urandom(16)
    request = PskExchange(spdm_version=ctx.version, req_session_id=0x5A5A, psk_hint=hint,
                          requester_context=os.urandom(48),
                          opaque_data=encode_opaque(ctx.version, [supported_versions_element()]))
    answer = ctx.send(request)
    ctx.check("a random PSKHint is refused with an ERROR", answer[1:2] == bytes([ERROR]),
              expected="an ERROR (7fh)", actual=f"code 0x{answer[1]:02x}" if len(answer) > 1 else "no header")
