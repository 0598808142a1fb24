"""IDE_KM protocol numbers: Protocol ID, ObjectIDs, key sets, directions, sub-streams, statuses."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "INITIAL_IFV",
    "KEY_SIZE",
    "PROTOCOL_ID",
    "Direction",
    "KeySet",
    "KpAckStatus",
    "ObjectId",
    "StreamState",
    "SubStream",
]

PROTOCOL_ID = 0x00
"""PCI-SIG vendor-defined Protocol ID of IDE_KM (PROTOCOLS.md §3.12)."""

KEY_SIZE = 32
"""AES-256-GCM key bytes in KEY_PROG (§8.3)."""

INITIAL_IFV = 1
"""The invocation field a fresh key starts at (§8.3; TIV case 2.5 refuses any other)."""


class ObjectId(IntEnum):
    """IDE_KM ObjectID (PROTOCOLS.md §8.2)."""

    QUERY = 0x00
    QUERY_RESP = 0x01
    KEY_PROG = 0x02
    KP_ACK = 0x03
    K_SET_GO = 0x04
    K_SET_STOP = 0x05
    K_GOSTOP_ACK = 0x06


class KeySet(IntEnum):
    """Key set K0/K1 (the K bit of the IDE TLP prefix)."""

    K0 = 0
    K1 = 1

    @property
    def other(self) -> KeySet:
        """The key set a refresh programs while this one runs."""
        return KeySet(1 - self)


class Direction(IntEnum):
    """RxTx, from the point of view of the port being programmed (the D bit)."""

    RX = 0
    TX = 1


class SubStream(IntEnum):
    """IDE sub-streams: posted, non-posted requests and completions."""

    PR = 0
    NPR = 1
    CPL = 2


class KpAckStatus(IntEnum):
    """KP_ACK Status (§8.2)."""

    SUCCESS = 0
    INCORRECT_LENGTH = 1
    UNSUPPORTED_PORT_INDEX = 2
    UNSUPPORTED_VALUE = 3
    UNSPECIFIED_FAILURE = 4


class StreamState(IntEnum):
    """IDE Stream Status b[3:0] (§8.5); other encodings are reserved."""

    INSECURE = 0
    SECURE = 2
