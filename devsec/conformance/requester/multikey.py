"""Adversarial multi-key cases (SPDM 1.3): the device breaks a MULTI_KEY_CONN or slot-mask rule.

A conformant requester must not report success when the device selects
MULTI_KEY_CONN for a requester that has no MULTI_KEY_CAP (OtherParamsSelection
b4 is the requester's multi-key mode: libspdm and spdm-rs refuse it), or when
a 1.3 DIGESTS names a provisioned slot its SupportedSlotMask leaves out.
"""

from __future__ import annotations

from spdm.messages.codes import CapabilityFlags, RequestCode, ResponseCode
from spdm.negotiation import MULTI_KEY_CONN

from .adversarial import Rewrite, refused_once_reached
from .context import RequesterContext
from .registry import case

__all__ = ["stray_provisioned_slot", "unrequested_multi_key"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

_MULTI_KEY_CAPS = CapabilityFlags.MULTI_KEY_CAP_ONLY | CapabilityFlags.MULTI_KEY_CAP_NEG
_OTHER_PARAMS = 7
"""ALGORITHMS OtherParamsSelection's offset."""


def _v13(request: bytes, response: bytes) -> bool:
    return request[0] >= 0x13 and len(response) > _OTHER_PARAMS


def _select_multi_key(request: bytes, response: bytes) -> bytes:
    if response[1] != ResponseCode.ALGORITHMS:
        return response
    return response[:_OTHER_PARAMS] + bytes([response[_OTHER_PARAMS] | MULTI_KEY_CONN]) + response[8:]


def _unsupported_provisioned(request: bytes, response: bytes) -> bytes:
    """Param1 (SupportedSlotMask) becomes ProvisionedSlotMask without its lowest slot."""
    if response[1] != ResponseCode.DIGESTS or not response[3]:
        return response
    return response[:2] + bytes([response[3] ^ (response[3] & -response[3])]) + response[3:]


def _requester_has_multi_key(ctx: RequesterContext) -> bool:
    for run in ctx.runs:
        for exchange in run.requests(RequestCode.GET_CAPABILITIES):
            flags = int.from_bytes(exchange.request[8:12], "little") if len(exchange.request) >= 12 else 0
            if flags & _MULTI_KEY_CAPS:
                return True
    return False


@case("requester.multikey.unrequested-selection", "ALGORITHMS selecting MULTI_KEY_CONN for a requester "
      "without MULTI_KEY_CAP is refused", "DSP0274 1.3 §10.5 Table 17 (OtherParamsSelection)",
      misbehaviour=lambda: Rewrite(RequestCode.NEGOTIATE_ALGORITHMS, _select_multi_key, _v13))
def unrequested_multi_key(ctx: RequesterContext) -> None:
    if _requester_has_multi_key(ctx):
        ctx.skip("the requester advertises MULTI_KEY_CAP: the selection is legal")
    refused_once_reached(ctx, "ALGORITHMS selects MULTI_KEY_CONN unasked", "NEGOTIATE_ALGORITHMS at 1.3")


@case("requester.multikey.stray-provisioned-slot", "A 1.3 DIGESTS whose ProvisionedSlotMask names a slot "
      "outside its SupportedSlotMask is refused", "DSP0274 1.3 §10.6 Table 28",
      misbehaviour=lambda: Rewrite(RequestCode.GET_DIGESTS, _unsupported_provisioned, _v13))
def stray_provisioned_slot(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "DIGESTS provisions a slot it does not support", "GET_DIGESTS at 1.3")
