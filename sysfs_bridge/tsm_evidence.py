"""Evidence from a TSM backend (TSM mode), in the same values the SPDM requester's evidence uses.

In TSM mode the kernel's ``authenticated`` names the TSM and ``tsm/``
describes the link: the DSM's ``tsm/connect`` names the TSM that connected
it, each TDI's ``tsm/dsm`` names its DSM and ``tsm/bound`` the TSM it is
bound through.  The certificates, signatures and measurements are the ones the
TSM collected, so a policy reads and re-verifies them exactly as in CMA mode.
"""

from __future__ import annotations

from spdm.names import measurement_hash_name
from tdisp.messages import TdiState
from tsm import DeviceInfo, LinkState, TdiInfo

from .evidence import (
    DeviceEvidence,
    PciIdentity,
    TsmState,
    measurement_entry,
    negotiated_facts,
    signature_entry,
)

__all__ = ["evidence_from_tsm"]

_BOUND = (TdiState.CONFIG_LOCKED, TdiState.RUN)


def _tsm_state(tdi: TdiInfo | None, tsm: str, *, dsm: str, connect: str = "") -> TsmState:
    """A function's ``tsm/`` attributes; ``tdi`` is its interface when one was ever bound."""
    bound = tdi is not None and tdi.state in _BOUND
    return TsmState(connect=connect, dsm=dsm, bound=tsm if bound else "", lock="1" if bound else "",
                    accept="1" if tdi is not None and tdi.state == TdiState.RUN else "")


def _tdi(tdi: TdiInfo, tsm: str) -> DeviceEvidence:
    return DeviceEvidence(bdf=tdi.bdf, authenticated="", tsm=_tsm_state(tdi, tsm, dsm=tdi.dsm))


def evidence_from_tsm(info: DeviceInfo, pci: PciIdentity | None = None) -> tuple[DeviceEvidence, ...]:
    """The DSM's evidence and one (TSM attributes only) per TDI, DSM first.

    Args:
        info: what the TSM reported for the device.
        pci: the DSM's PCI identity when the host has its config space.

    Raises:
        ConfigurationError: an address or name that cannot be rendered.
    """
    connected = info.state == LinkState.CONNECTED
    hash_name = measurement_hash_name(info.measurement_hash_alg)
    protocols = (("ide_km",) if info.streams else ()) + (("tdisp",) if info.tdis else ())
    dsm = DeviceEvidence(
        bdf=info.bdf,
        authenticated=info.tsm if connected else "",
        certificates=dict(info.certificates),
        signatures=tuple(signature_entry(n, s) for n, s in enumerate(info.signatures)),
        doe_features=info.doe_features,
        measurements=tuple(measurement_entry(block, hash_name, "tsm") for block in info.measurements),
        # the DSM's own interface (function 0 as a TDI) is described on its own tree
        tsm=_tsm_state(next((t for t in info.tdis if t.bdf == info.bdf), None), info.tsm,
                       dsm=info.bdf, connect=info.tsm if connected else ""),
        spdm=negotiated_facts(info.version, info.hash_alg, info.asym_alg, info.measurement_hash_alg,
                              info.dhe_group, info.aead_suite, info.capabilities, protocols),
        pci=pci if pci is not None else PciIdentity(),
    )
    return (dsm, *(_tdi(t, info.tsm) for t in info.tdis if t.bdf != info.bdf))
