"""Captures of devsec's own requester and device, for ``devsec dump`` tests.

:func:`record` runs a real conversation in process (VCA, certificate,
CHALLENGE, signed measurements, and from 1.1 on a KEY_EXCHANGE session --
mutually authenticated when the requester has a key -- with in-session
measurements, heartbeat, key updates and END_SESSION, then a PSK session),
records every DOE object with :class:`spdm.capture.RecordingTransport`, and
returns the capture with the session secrets in the order a secrets file
lists them.  The DHE secrets are the requester's own, recorded as it computes
them (:func:`recording_dhe_secrets`): the keys are real, only watched.

The device always lists every version; the requester offers only the case's,
so a follower must take the version from the captured GET_CAPABILITIES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal

import pytest

import spdm.requester.session
from devsec.emulator import EmulatedDevice
from spdm.capture import RecordingTransport
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.crypto import DeviceIdentity, DheKeyPair, generate_dhe_key, load_private_key_pem
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    MeasurementHashAlgo,
    RequestCode,
    SpdmVersion,
)
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester

F = CapabilityFlags
A = BaseAsymAlgo
NOW = datetime.now(UTC)  # the generated certificates start a day before now
PSK = bytes(range(48))
HINT = b"devsec-psk"
MUTUAL = F.MUT_AUTH_CAP | F.ENCAP_CAP

MEASUREMENT_HASH = {
    BaseHashAlgo.SHA_256: MeasurementHashAlgo.SHA_256,
    BaseHashAlgo.SHA_384: MeasurementHashAlgo.SHA_384,
    BaseHashAlgo.SHA_512: MeasurementHashAlgo.SHA_512,
    BaseHashAlgo.SHA3_256: MeasurementHashAlgo.SHA3_256,
    BaseHashAlgo.SHA3_384: MeasurementHashAlgo.SHA3_384,
    BaseHashAlgo.SHA3_512: MeasurementHashAlgo.SHA3_512,
}
"""Every hash devsec computes, and the measurement hash of the same function."""
SIGNING_ASYMS = tuple(a for a in A if a not in (A.SM2_P256, A.EDDSA_ED448))
"""Every asym devsec signs with (no SM2; Ed448 needs an EdDSA context from 1.2 on, where EdDSA begins)."""
_SSA_OF = {A.RSAPSS_2048: A.RSASSA_2048, A.RSAPSS_3072: A.RSASSA_3072, A.RSAPSS_4096: A.RSASSA_4096}


@dataclass(frozen=True)
class Case:
    """One conversation's choices; ``req_asym`` None means the requester has no key (no mutual auth)."""

    version: SpdmVersion = SpdmVersion.V13
    hash_alg: BaseHashAlgo = BaseHashAlgo.SHA_384
    asym: BaseAsymAlgo = A.ECDSA_P384
    req_asym: BaseAsymAlgo | None = A.ECDSA_P256
    dhe: DheGroup = DheGroup.SECP_384_R1
    aead: AeadSuite = AeadSuite.AES_256_GCM
    caps: CapabilityFlags = F.PSK_CAP_WITH_CONTEXT
    """What the device adds to its defaults: its PSK capability, and HANDSHAKE_IN_THE_CLEAR_CAP
    (which the requester then adds too)."""
    without: CapabilityFlags = F(0)
    """What both sides leave out of their defaults (ENCRYPT_CAP: MAC-only sessions)."""
    not_ready: frozenset[RequestCode] = frozenset()
    """Requests the device first answers with ResponseNotReady (the requester polls)."""

    @property
    def sessions(self) -> bool:
        """The conversation opens sessions (1.1+)."""
        return self.version >= SpdmVersion.V11

    @property
    def mutual(self) -> bool:
        """The requester authenticates itself (basic mutual auth and KEY_EXCHANGE)."""
        return self.req_asym is not None and self.version >= SpdmVersion.V11

    def expected_signatures(self) -> int:
        """CHALLENGE_AUTH and signed MEASUREMENTS, the requester's encapsulated CHALLENGE_AUTH
        (basic mutual auth) and its FINISH signature, and the in-session MEASUREMENTS."""
        return 2 + 2 * self.mutual + self.sessions

    def __str__(self) -> str:
        req = self.req_asym.name if self.req_asym is not None else "no-req-key"
        not_ready = "-not-ready" if self.not_ready else ""
        return (f"{self.version.text}-{self.hash_alg.name}-{self.asym.name}-{req}-{self.dhe.name}-"
                f"{self.aead.name}-{int(self.caps):x}-{int(self.without):x}{not_ready}")


@dataclass(frozen=True)
class Recording:
    """A capture of a live conversation and the session secrets, in session order."""

    pcap: bytes
    secrets: list[bytes]


@cache
def _identity(asym: BaseAsymAlgo, role: Literal["responder", "requester"]) -> DeviceIdentity:
    """One identity per RSA size and role: an RSAPSS key is its RSASSA twin's key, re-tagged
    (RSA keys take seconds to generate)."""
    if asym in _SSA_OF:
        twin = _identity(_SSA_OF[asym], role)
        return DeviceIdentity(twin.certificates, load_private_key_pem(twin.leaf_key.to_pem(), asym))
    return DeviceModel.generate(asym, role=role).slots[0]


def recording_dhe_secrets(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record, from now on, every DHE secret the requester computes (as a secrets log would)."""
    secrets: list[bytes] = []

    class RecordingDhe:
        def __init__(self, inner: DheKeyPair) -> None:
            self._inner = inner

        def public_bytes(self) -> bytes:
            return self._inner.public_bytes()

        def shared_secret(self, peer_public: bytes) -> bytes:
            secret = self._inner.shared_secret(peer_public)
            secrets.append(secret)
            return secret

    def generate(group: DheGroup) -> RecordingDhe:
        return RecordingDhe(generate_dhe_key(group))

    monkeypatch.setattr(spdm.requester.session, "generate_dhe_key", generate)
    return secrets


def record(case: Case, dhe_secrets: list[bytes], *, sessions: bool = True) -> Recording:
    """Run ``case``'s conversation between devsec's requester and device, recording it.

    Args:
        case: the choices.
        dhe_secrets: the list :func:`recording_dhe_secrets` fills (emptied first).
        sessions: open the sessions too (1.1+).
    """
    dhe_secrets.clear()
    device_model = DeviceModel({0: _identity(case.asym, "responder")}).with_psks({HINT: PSK})
    host = DeviceModel({0: _identity(case.req_asym, "requester")}) if case.req_asym is not None else None
    prefs = AlgorithmPreferences(
        hash_algs=(case.hash_alg,), asym_algs=(case.asym,),
        measurement_hash_algs=(MEASUREMENT_HASH[case.hash_alg],),
        dhe_groups=(case.dhe,), aead_suites=(case.aead,),
        req_asym_algs=(case.req_asym,) if case.req_asym is not None else (),
    )
    extra = case.caps | (MUTUAL if host is not None else F(0))
    device = EmulatedDevice(ResponderConfig(
        capabilities=(DEFAULT_RESPONDER_CAPS | extra) & ~case.without, algorithms=prefs,
        heartbeat_period=10, mutual_auth=host is not None, not_ready_requests=case.not_ready, rdt_exponent=0,
        requester_trust_anchors=(host.root_certificate(),) if host is not None else ()), device_model)
    requester = Requester(RequesterConfig(
        versions=(case.version,), trust_anchors=(device_model.root_certificate(),),
        capabilities=(DEFAULT_REQUESTER_CAPS | (extra & (MUTUAL | F.HANDSHAKE_IN_THE_CLEAR_CAP)))
        & ~case.without,
        algorithms=prefs), backend=host)
    recorder = RecordingTransport(device.pipe())
    driver = RequesterDriver(recorder, requester, sleep=lambda seconds: None)
    commands: list[Callable[[], None]] = [
        requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
        requester.get_digests, lambda: requester.get_certificate(0, now=NOW),
        lambda: requester.challenge(0), requester.get_measurements,
    ]
    for command in commands:
        driver.run(command)
    secrets: list[bytes] = []
    if sessions and case.sessions:
        driver.run(lambda: requester.key_exchange(0))
        (session_id,) = requester.sessions
        for command in (lambda: requester.get_measurements(session_id=session_id),
                        lambda: requester.heartbeat(session_id),
                        lambda: requester.key_update(session_id),
                        lambda: requester.key_update(session_id, all_keys=True),
                        lambda: requester.end_session(session_id)):
            driver.run(command)
        driver.run(lambda: requester.psk_exchange(PSK, HINT))
        (session_id,) = requester.sessions
        driver.run(lambda: requester.heartbeat(session_id))
        driver.run(lambda: requester.end_session(session_id))
        secrets = [*dhe_secrets, PSK]
    return Recording(recorder.pcap(), secrets)
