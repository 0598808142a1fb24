"""``spdm.state.after-capabilities`` on a device with CHUNK_CAP: CHUNK_SEND is legal there.

Found by running the suite against ``devsec emulate --max-spdm-msg-size 0x10000`` (which offers
CHUNK_CAP): the case demanded UnexpectedRequest for a CHUNK_SEND right after CAPABILITIES, but
that is the state in which a requester sends a NEGOTIATE_ALGORITHMS larger than the
DataTransferSize just exchanged, and the device acknowledged the chunk, rightly.  Without
CHUNK_CAP the case still demands the refusal.
"""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, catalogue, run_suite
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.messages.codes import CapabilityFlags

from .devices import device_model

CASE = [c for c in catalogue() if c.id == "spdm.state.after-capabilities"]


@pytest.mark.parametrize("chunking", [True, False], ids=["chunk-cap", "no-chunk-cap"])
def test_after_capabilities_passes_on_a_device_that_chunks(chunking: bool) -> None:
    caps = DEFAULT_RESPONDER_CAPS | CapabilityFlags.CHUNK_CAP if chunking else DEFAULT_RESPONDER_CAPS
    device = EmulatedDevice(ResponderConfig(capabilities=caps, max_spdm_msg_size=0x10000), device_model())
    suite = run_suite(device.pipe, CASE, versions=(0x12, 0x13))
    assert [(r.run.id, r.verdict) for r in suite.results] == [
        (f"spdm.state.after-capabilities@{v}", Verdict.PASS) for v in ("1.2", "1.3")]
    names = {a.what for r in suite.results for a in r.assertions}
    assert any(name.startswith("CHUNK_SEND") for name in names) is not chunking
