"""The SPDM 1.3 endpoint evidence of a device: endpoint info, its MEL, its key pairs.

``devsec connect --endpoint-info/--mel/--key-pairs`` and anything else that
holds an authenticated :class:`spdm.connection.Connection` read them through
:func:`read_endpoint`: GET_ENDPOINT_INFO (signed with the connection's slot
when asked and the device can sign: the signature is verified by the engine
and lands in the signatures log like CHALLENGE_AUTH's), the whole
GET_MEASUREMENT_EXTENSION_LOG, and GET_KEY_PAIR_INFO for every key pair the
device has (TotalKeyPairs comes with the first).

When the MEL and the connection's measurements were both read, the log must
extend to the device's hash-extended measurements
(:func:`spdm.hash_extended.check_mel`): the measurements are signed, the log
is not, so that check is what makes the log evidence.

Decided: requests go out of session (the capture of libspdm asks for them
both ways; out of session the signed ENDPOINT_INFO is bound to VCA, which
the sysfs signatures log re-verifies offline).
"""

from __future__ import annotations

from dataclasses import field
from functools import partial

from spdm.connection import Connection
from spdm.errors import LocalProtocolError
from spdm.events import EndpointInfoReceived, Event, KeyPairInfoReceived, MeasurementExtensionLogReceived
from spdm.hash_extended import check_mel
from spdm.messages.codes import CapabilityFlags, MeasurementHashAlgo
from spdm.messages.mel import Mel
from spdm.record import record

__all__ = ["ENDPOINT_INFO_MODES", "EndpointEvidence", "read_endpoint", "read_offered_evidence"]

ENDPOINT_INFO_MODES = ("signed", "unsigned")
"""How GET_ENDPOINT_INFO may be asked for."""


@record(frozen=True)
class EndpointEvidence:
    """What :func:`read_endpoint` read.

    Attributes:
        endpoint_info: the ENDPOINT_INFO (its signature verified when signed), or None.
        mel: the whole MEL, or None when not asked.
        mel_checked: the MEL was checked against the connection's measurements.
        key_pairs: every key pair's KEY_PAIR_INFO, KeyPairID order.
        events: every engine event of these exchanges, in order (for the
            connection's report and the evidence tree).
    """

    endpoint_info: EndpointInfoReceived | None = None
    mel: Mel | None = None
    mel_checked: bool = False
    key_pairs: tuple[KeyPairInfoReceived, ...] = ()
    events: tuple[Event, ...] = field(default=(), repr=False)


def read_endpoint(connection: Connection, *, endpoint_info: str | None = None, mel: bool = False,
                  key_pairs: bool = False) -> EndpointEvidence:
    """Read the 1.3 endpoint evidence the flags ask for.

    Args:
        connection: an authenticated connection (its slot signs ENDPOINT_INFO).
        endpoint_info: ``"signed"``, ``"unsigned"`` or None (not asked).
        mel: read the Measurement Extension Log.
        key_pairs: read every key pair's information.

    Returns:
        What was read.

    Raises:
        LocalProtocolError: the device lacks the capability (EP_INFO_CAP, MEL_CAP,
            GET_KEY_PAIR_INFO_CAP) or, for a signed answer, EP_INFO_CAP_SIG.
        VerificationError: a signature does not verify, or the MEL does not
            extend to the device's hash-extended measurements.
        RemoteErrorResponse / RemoteProtocolError / TransportError: the device failed.
    """
    if endpoint_info not in (None, *ENDPOINT_INFO_MODES):
        raise LocalProtocolError(f"endpoint info is asked {' or '.join(ENDPOINT_INFO_MODES)}, "
                                 f"not {endpoint_info!r}")
    requester = connection.driver.requester
    slot = connection.report.slot_id
    events: list[Event] = []
    info = None
    if endpoint_info is not None:
        signed = endpoint_info == "signed"
        got = connection.driver.run(lambda: requester.get_endpoint_info(signed=signed, slot_id=slot))
        events += got
        info = next(e for e in got if isinstance(e, EndpointInfoReceived))
    log = None
    checked = False
    if mel:
        got = connection.driver.run(requester.get_measurement_extension_log)
        events += got
        log = Mel.decode(next(e for e in got if isinstance(e, MeasurementExtensionLogReceived)).mel)
        checked = _check_against_measurements(connection, log)
    pairs: list[KeyPairInfoReceived] = []
    if key_pairs:
        total = 1
        while len(pairs) < total:
            got = connection.driver.run(partial(requester.get_key_pair_info, len(pairs) + 1))
            events += got
            pair = next(e for e in got if isinstance(e, KeyPairInfoReceived))
            total = pair.total_key_pairs
            pairs.append(pair)
    return EndpointEvidence(info, log, checked, tuple(pairs), tuple(events))


def _check_against_measurements(connection: Connection, log: Mel) -> bool:
    """Check the MEL against the connection's latest measurements, when it read any with digests."""
    measurements = connection.report.measurements
    hash_alg = connection.negotiated.measurement_hash_alg
    if measurements is None or hash_alg in (0, MeasurementHashAlgo.RAW_BIT_STREAM_ONLY):
        return False
    check_mel(log, measurements.blocks, hash_alg)
    return True


def read_offered_evidence(connection: Connection) -> EndpointEvidence | None:
    """What a TSM's connect adds to the evidence: the signed ENDPOINT_INFO and the MEL, as offered.

    Decided: a TSM reads what the device offers for evidence -- a signed
    ENDPOINT_INFO with EP_INFO_CAP_SIG (its signature joins the log the
    kernel keeps) and the MEL with MEL_CAP (checked against the signed
    measurements) -- and nothing when it offers neither (a 1.2 device, whose
    CAPABILITIES cannot carry these flags).  Key pairs are configuration, not
    evidence, and are left to ``devsec connect --key-pairs``.

    Returns:
        What was read, or None when the device offers neither.

    Raises:
        The same as :func:`read_endpoint`.
    """
    flags = connection.negotiated.responder_flags
    signed = bool(flags & CapabilityFlags.EP_INFO_CAP_SIG)
    mel = bool(flags & CapabilityFlags.MEL_CAP)
    if not (signed or mel):
        return None
    return read_endpoint(connection, endpoint_info="signed" if signed else None, mel=mel)
