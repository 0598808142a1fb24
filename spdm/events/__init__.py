"""Events the SPDM engines emit: what happened, with the exact bytes evidence needs.

Frozen, slotted, past-tense (STYLE R5).  Signed exchanges carry a
:class:`SignedEvidence` record holding everything a third party needs to
re-verify the signature offline (the sysfs ``signatures/`` log is rendered
from it).

One module per flow: :mod:`.connection` (VCA, certificates, CHALLENGE,
measurements, vendor-defined, ERROR; the :class:`Event` base), :mod:`.session`,
:mod:`.provisioning`, :mod:`.endpoint` and :mod:`.event` (SPDM 1.3 events).
Each is imported when one of its names is first used (:mod:`spdm.lazy`): every
event is a dataclass whose methods CPython compiles when the class is created,
and a connection that only authenticates emits none of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .connection import (
        AlgorithmsNegotiated,
        CapabilitiesReceived,
        CertificateChainReceived,
        CertificateSizeReceived,
        ChallengeAuthenticated,
        DigestsReceived,
        ErrorResponseReceived,
        Event,
        MeasurementsReceived,
        RequestAnswered,
        SignedEvidence,
        VendorResponseReceived,
        VersionNegotiated,
    )
    from .endpoint import (
        EndpointInfoReceived,
        KeyPairInfoReceived,
        KeyPairInfoSet,
        MeasurementExtensionLogReceived,
    )
    from .event import DeviceEventReceived, EventTypesSubscribed, SupportedEventTypesReceived
    from .provisioning import CertificateInstalled, CsrReceived
    from .session import (
        HeartbeatAcknowledged,
        KeyUpdated,
        MutualAuthCompleted,
        SessionEnded,
        SessionEstablished,
    )

_HOMES = {
    "AlgorithmsNegotiated": ".connection",
    "CapabilitiesReceived": ".connection",
    "CertificateChainReceived": ".connection",
    "CertificateSizeReceived": ".connection",
    "ChallengeAuthenticated": ".connection",
    "DigestsReceived": ".connection",
    "ErrorResponseReceived": ".connection",
    "Event": ".connection",
    "MeasurementsReceived": ".connection",
    "RequestAnswered": ".connection",
    "SignedEvidence": ".connection",
    "VendorResponseReceived": ".connection",
    "VersionNegotiated": ".connection",
    "SessionEstablished": ".session",
    "MutualAuthCompleted": ".session",
    "HeartbeatAcknowledged": ".session",
    "KeyUpdated": ".session",
    "SessionEnded": ".session",
    "CsrReceived": ".provisioning",
    "CertificateInstalled": ".provisioning",
    "EndpointInfoReceived": ".endpoint",
    "MeasurementExtensionLogReceived": ".endpoint",
    "KeyPairInfoReceived": ".endpoint",
    "KeyPairInfoSet": ".endpoint",
    "SupportedEventTypesReceived": ".event",
    "EventTypesSubscribed": ".event",
    "DeviceEventReceived": ".event",
}
"""Public name -> the flow module defining it (imported on first use)."""

__all__ = [
    "AlgorithmsNegotiated",
    "CapabilitiesReceived",
    "CertificateChainReceived",
    "CertificateInstalled",
    "CertificateSizeReceived",
    "ChallengeAuthenticated",
    "CsrReceived",
    "DeviceEventReceived",
    "DigestsReceived",
    "EndpointInfoReceived",
    "ErrorResponseReceived",
    "Event",
    "EventTypesSubscribed",
    "HeartbeatAcknowledged",
    "KeyPairInfoReceived",
    "KeyPairInfoSet",
    "KeyUpdated",
    "MeasurementExtensionLogReceived",
    "MeasurementsReceived",
    "MutualAuthCompleted",
    "RequestAnswered",
    "SessionEnded",
    "SessionEstablished",
    "SignedEvidence",
    "SupportedEventTypesReceived",
    "VendorResponseReceived",
    "VersionNegotiated",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
