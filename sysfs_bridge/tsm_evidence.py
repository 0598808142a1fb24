"""Evidence from a TSM backend (TSM mode), in the same values the SPDM requester's evidence uses.

The attributes follow mainline Linux 6.19's PCI/TSM (``drivers/pci/tsm.c``)
and the TSM staging tree's lock/unlock/accept:

- a function has a TSM context while its DSM is connected (the TSM holds
  the link: :attr:`~tsm.LinkState.CONNECTED`, or ERROR until it is
  disconnected, as the kernel keeps ``pdev->tsm`` until disconnect); without
  one ``tsm/dsm``, ``tsm/connect`` and ``tsm/bound`` read empty;
- ``authenticated`` names the TSM on the DSM and on every other function of
  it while the link is CONNECTED (the kernel's ``authenticated`` is
  ``connect``'s value, on each probed sub-function too); devsec leaves it
  empty once the session is lost (ERROR): a lost session authenticates
  nothing, so a policy reading the tree fails closed;
- ``tsm/connect`` (and the write-only ``disconnect``) only on the DSM;
- ``tsm/bound`` and ``tsm/lock`` name the TSM while the function's TDI is
  CONFIG_LOCKED, RUN or ERROR (bound until unbound), ``tsm/accept`` reads
  ``1`` in RUN only; ``lock``/``unlock``/``accept`` exist on functions that
  are TDIs;
- the interface report is rendered on the TDI's tree while its interface
  is CONFIG_LOCKED or RUN (:mod:`.interface_report`).

The DSM's certificates, signatures and measurements are the ones the TSM
collected, so a policy reads and re-verifies them exactly as in CMA mode; a
TSM does not report the device's SupportedSlotMask, so only the slots it
reported certificates for are rendered.
"""

from __future__ import annotations

from spdm.names import measurement_hash_name
from tdisp.messages import TdiState
from tsm import DeviceInfo, LinkState, TdiInfo

from .evidence import (
    DeviceEvidence,
    TsmState,
    measurement_entry,
    negotiated_facts,
    signature_entry,
)
from .pci import PciIdentity

__all__ = ["evidence_from_tsm"]

_BOUND = (TdiState.CONFIG_LOCKED, TdiState.RUN, TdiState.ERROR)
_LOCKED = (TdiState.CONFIG_LOCKED, TdiState.RUN)
_HELD = (LinkState.CONNECTED, LinkState.ERROR)


def _tsm_state(info: DeviceInfo, tdi: TdiInfo | None, *, dsm_function: bool) -> TsmState:
    """A function's ``tsm/`` attributes; ``tdi`` is its interface when it is a TDI."""
    held = info.state in _HELD
    bound = info.tsm if held and tdi is not None and tdi.state in _BOUND else ""
    return TsmState(
        dsm=info.bdf if held else "",
        bound=bound,
        connect=(info.tsm if held else "") if dsm_function else None,
        lock=None if tdi is None else bound,
        accept=None if tdi is None else "1" if held and tdi.state == TdiState.RUN else "0",
    )


def _report(tdi: TdiInfo | None) -> bytes:
    return tdi.report if tdi is not None and tdi.state in _LOCKED else b""


def evidence_from_tsm(info: DeviceInfo, pci: PciIdentity | None = None) -> tuple[DeviceEvidence, ...]:
    """The DSM's evidence and one per TDI (TSM attributes and interface report), DSM first.

    Args:
        info: what the TSM reported for the device.
        pci: the DSM's PCI identity when the host has its config space.

    Raises:
        ConfigurationError: an address or name that cannot be rendered, or an
            interface report that does not parse.
    """
    connected = info.state == LinkState.CONNECTED
    authenticated = info.tsm if connected else ""
    hash_name = measurement_hash_name(info.measurement_hash_alg)
    protocols = (("ide_km",) if info.streams else ()) + (("tdisp",) if info.tdis else ())
    # the DSM's own interface (function 0 as a TDI) is described on its own tree
    own = next((t for t in info.tdis if t.bdf == info.bdf), None)
    dsm = DeviceEvidence(
        bdf=info.bdf,
        authenticated=authenticated,
        certificates=dict(info.certificates),
        supported_slots=tuple(info.certificates),
        signatures=tuple(signature_entry(n, s) for n, s in enumerate(info.signatures)),
        doe_features=info.doe_features,
        measurements=tuple(measurement_entry(block, hash_name, "tsm") for block in info.measurements),
        tsm=_tsm_state(info, own, dsm_function=True),
        spdm=negotiated_facts(info.version, info.hash_alg, info.asym_alg, info.measurement_hash_alg,
                              info.dhe_group, info.aead_suite, info.capabilities, info.kem_alg, protocols),
        pci=pci if pci is not None else PciIdentity(),
        interface_report=_report(own),
        mel=info.mel,
    )
    tdis = (DeviceEvidence(bdf=t.bdf, authenticated=authenticated, supported_slots=(),
                           tsm=_tsm_state(info, t, dsm_function=False), interface_report=_report(t))
            for t in info.tdis if t.bdf != info.bdf)
    return (dsm, *tdis)
