"""SPDM protocol numbers: message codes, capability flags and algorithm bitmasks.

Every number a peer can put on the wire has a name here (DSP0274 1.3 tables,
PROTOCOLS.md §2-§3).  Bitmask fields are ``IntFlag`` so a negotiated set reads
as names; single-valued fields are ``IntEnum``.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final

__all__ = [
    "CERT_MODEL_NONE",
    "CERT_MODEL_GENERIC",
    "CERT_MODEL_DEVICE",
    "CERT_MODEL_ALIAS",
    "AeadSuite",
    "AlgType",
    "BaseAsymAlgo",
    "BaseHashAlgo",
    "CapabilityFlags",
    "DMTF_RAW_BIT_STREAM",
    "DheGroup",
    "DmtfValueType",
    "EndpointInfoAttributes",
    "EndpointInfoSubcode",
    "KemAlgo",
    "KeyPairCapabilities",
    "KeyPairOperation",
    "KeyScheduleAlgo",
    "KeyUsage",
    "MeasurementAttributes",
    "MeasurementHashAlgo",
    "MeasurementOperation",
    "MeasurementSpecification",
    "MeasurementSummaryHashType",
    "OpaqueDataFormat",
    "PqcAsymAlgo",
    "RegistryId",
    "RequestCode",
    "ResponseCode",
    "SpdmVersion",
]


class SpdmVersion(IntEnum):
    """The SPDMVersion byte: major << 4 | minor."""

    V10 = 0x10
    V11 = 0x11
    V12 = 0x12
    V13 = 0x13
    V14 = 0x14

    @property
    def text(self) -> str:
        """``"1.2"`` etc., as used in signing prefixes and BinConcat labels."""
        return f"{self >> 4}.{self & 0xF}"  # int operators: .value is a slow property in 3.11

    @classmethod
    def parse(cls, text: str) -> SpdmVersion:
        """``"1.2"`` -> ``V12``; raises ValueError for anything else."""
        major, _, minor = text.partition(".")
        return cls((int(major) << 4) | int(minor))


class RequestCode(IntEnum):
    """Request codes (DSP0274 Table 4)."""

    GET_DIGESTS = 0x81
    GET_CERTIFICATE = 0x82
    CHALLENGE = 0x83
    GET_VERSION = 0x84
    CHUNK_SEND = 0x85
    CHUNK_GET = 0x86
    GET_ENDPOINT_INFO = 0x87
    GET_MEASUREMENTS = 0xE0
    GET_CAPABILITIES = 0xE1
    GET_SUPPORTED_EVENT_TYPES = 0xE2
    NEGOTIATE_ALGORITHMS = 0xE3
    KEY_EXCHANGE = 0xE4
    FINISH = 0xE5
    PSK_EXCHANGE = 0xE6
    PSK_FINISH = 0xE7
    HEARTBEAT = 0xE8
    KEY_UPDATE = 0xE9
    GET_ENCAPSULATED_REQUEST = 0xEA
    DELIVER_ENCAPSULATED_RESPONSE = 0xEB
    END_SESSION = 0xEC
    GET_CSR = 0xED
    SET_CERTIFICATE = 0xEE
    GET_MEASUREMENT_EXTENSION_LOG = 0xEF
    SUBSCRIBE_EVENT_TYPES = 0xF0
    SEND_EVENT = 0xF1
    GET_KEY_PAIR_INFO = 0xFC
    SET_KEY_PAIR_INFO = 0xFD
    VENDOR_DEFINED_REQUEST = 0xFE
    RESPOND_IF_READY = 0xFF


class ResponseCode(IntEnum):
    """Response codes (DSP0274 Table 5)."""

    DIGESTS = 0x01
    CERTIFICATE = 0x02
    CHALLENGE_AUTH = 0x03
    VERSION = 0x04
    CHUNK_SEND_ACK = 0x05
    CHUNK_RESPONSE = 0x06
    ENDPOINT_INFO = 0x07
    MEASUREMENTS = 0x60
    CAPABILITIES = 0x61
    SUPPORTED_EVENT_TYPES = 0x62
    ALGORITHMS = 0x63
    KEY_EXCHANGE_RSP = 0x64
    FINISH_RSP = 0x65
    PSK_EXCHANGE_RSP = 0x66
    PSK_FINISH_RSP = 0x67
    HEARTBEAT_ACK = 0x68
    KEY_UPDATE_ACK = 0x69
    ENCAPSULATED_REQUEST = 0x6A
    ENCAPSULATED_RESPONSE_ACK = 0x6B
    END_SESSION_ACK = 0x6C
    CSR = 0x6D
    SET_CERTIFICATE_RSP = 0x6E
    MEASUREMENT_EXTENSION_LOG = 0x6F
    SUBSCRIBE_EVENT_TYPES_ACK = 0x70
    EVENT_ACK = 0x71
    KEY_PAIR_INFO = 0x7C
    SET_KEY_PAIR_INFO_ACK = 0x7D
    VENDOR_DEFINED_RESPONSE = 0x7E
    ERROR = 0x7F


class CapabilityFlags(IntFlag):
    """GET_CAPABILITIES / CAPABILITIES Flags (DSP0274 1.3 Tables 11/12)."""

    CACHE_CAP = 1 << 0
    CERT_CAP = 1 << 1
    CHAL_CAP = 1 << 2
    MEAS_CAP_NO_SIG = 1 << 3
    MEAS_CAP_SIG = 1 << 4
    MEAS_FRESH_CAP = 1 << 5
    ENCRYPT_CAP = 1 << 6
    MAC_CAP = 1 << 7
    MUT_AUTH_CAP = 1 << 8
    KEY_EX_CAP = 1 << 9
    PSK_CAP = 1 << 10
    PSK_CAP_WITH_CONTEXT = 1 << 11
    ENCAP_CAP = 1 << 12
    HBEAT_CAP = 1 << 13
    KEY_UPD_CAP = 1 << 14
    HANDSHAKE_IN_THE_CLEAR_CAP = 1 << 15
    PUB_KEY_ID_CAP = 1 << 16
    CHUNK_CAP = 1 << 17
    ALIAS_CERT_CAP = 1 << 18
    SET_CERT_CAP = 1 << 19
    CSR_CAP = 1 << 20
    CERT_INSTALL_RESET_CAP = 1 << 21
    EP_INFO_CAP_NO_SIG = 1 << 22
    EP_INFO_CAP_SIG = 1 << 23
    MEL_CAP = 1 << 24
    EVENT_CAP = 1 << 25
    MULTI_KEY_CAP_ONLY = 1 << 26
    MULTI_KEY_CAP_NEG = 1 << 27
    GET_KEY_PAIR_INFO_CAP = 1 << 28
    SET_KEY_PAIR_INFO_CAP = 1 << 29
    SET_KEY_PAIR_RESET_CAP = 1 << 30
    LARGE_RESP_CAP = 1 << 31


class BaseAsymAlgo(IntFlag):
    """BaseAsymAlgo / ReqBaseAsymAlg bits (DSP0274 Table 15)."""

    RSASSA_2048 = 1 << 0
    RSAPSS_2048 = 1 << 1
    RSASSA_3072 = 1 << 2
    RSAPSS_3072 = 1 << 3
    ECDSA_P256 = 1 << 4
    RSASSA_4096 = 1 << 5
    RSAPSS_4096 = 1 << 6
    ECDSA_P384 = 1 << 7
    ECDSA_P521 = 1 << 8
    SM2_P256 = 1 << 9
    EDDSA_ED25519 = 1 << 10
    EDDSA_ED448 = 1 << 11


class BaseHashAlgo(IntFlag):
    """BaseHashAlgo bits (DSP0274 Table 15)."""

    SHA_256 = 1 << 0
    SHA_384 = 1 << 1
    SHA_512 = 1 << 2
    SHA3_256 = 1 << 3
    SHA3_384 = 1 << 4
    SHA3_512 = 1 << 5
    SM3_256 = 1 << 6


class MeasurementHashAlgo(IntFlag):
    """MeasurementHashAlgo bits in ALGORITHMS (DSP0274 Table 18)."""

    RAW_BIT_STREAM_ONLY = 1 << 0
    SHA_256 = 1 << 1
    SHA_384 = 1 << 2
    SHA_512 = 1 << 3
    SHA3_256 = 1 << 4
    SHA3_384 = 1 << 5
    SHA3_512 = 1 << 6
    SM3_256 = 1 << 7


class DheGroup(IntFlag):
    """DHE AlgStruct bits (DSP0274 Table 16)."""

    FFDHE_2048 = 1 << 0
    FFDHE_3072 = 1 << 1
    FFDHE_4096 = 1 << 2
    SECP_256_R1 = 1 << 3
    SECP_384_R1 = 1 << 4
    SECP_521_R1 = 1 << 5
    SM2_P256 = 1 << 6


class PqcAsymAlgo(IntFlag):
    """PqcAsymAlgo bits (1.4: NEGOTIATE_ALGORITHMS/ALGORITHMS, and the ReqPqcAsymAlg AlgStruct).

    Values as the reference captures carry them (spdm14-mldsa65-mlkem768:
    ``PqcAsym=0x02(ML_DSA_65)``, ``ReqPqcAsym=0x0007(ML_DSA_44,ML_DSA_65,ML_DSA_87)``).
    """

    ML_DSA_44 = 1 << 0
    ML_DSA_65 = 1 << 1
    ML_DSA_87 = 1 << 2


class KemAlgo(IntFlag):
    """KEM AlgStruct bits (1.4; ``KEM=0x0002(ML_KEM_768)`` in spdm14-mldsa65-mlkem768)."""

    ML_KEM_512 = 1 << 0
    ML_KEM_768 = 1 << 1
    ML_KEM_1024 = 1 << 2


class AeadSuite(IntFlag):
    """AEAD AlgStruct bits (DSP0274 Table 17)."""

    AES_128_GCM = 1 << 0
    AES_256_GCM = 1 << 1
    CHACHA20_POLY1305 = 1 << 2
    SM4_GCM = 1 << 3


class KeyScheduleAlgo(IntFlag):
    """KeySchedule AlgStruct bits."""

    SPDM = 1 << 0


class AlgType(IntEnum):
    """AlgStruct AlgType (DSP0274 Table 16)."""

    DHE = 2
    AEAD = 3
    REQ_BASE_ASYM_ALG = 4
    KEY_SCHEDULE = 5
    REQ_PQC_ASYM_ALG = 6
    KEM = 7


class MeasurementSpecification(IntFlag):
    """MeasurementSpecification bits."""

    DMTF = 1 << 0


class OpaqueDataFormat(IntFlag):
    """OtherParamsSupport b[3:0] (1.2+)."""

    FMT0 = 1 << 0
    FMT1 = 1 << 1


class MeasurementSummaryHashType(IntEnum):
    """CHALLENGE / KEY_EXCHANGE Param (DSP0274 Table 35)."""

    NONE = 0x00
    TCB = 0x01
    ALL = 0xFF


class MeasurementOperation(IntEnum):
    """GET_MEASUREMENTS Param2 special values; 0x01-0xFE name one index."""

    QUERY_COUNT = 0x00
    ALL = 0xFF


class MeasurementAttributes(IntFlag):
    """GET_MEASUREMENTS Param1."""

    SIGNATURE_REQUESTED = 1 << 0
    RAW_BIT_STREAM_REQUESTED = 1 << 1
    NEW_MEASUREMENT_REQUESTED = 1 << 2


class DmtfValueType(IntEnum):
    """DMTFSpecMeasurementValueType b[6:0] (DSP0274 Table 45)."""

    IMMUTABLE_ROM = 0
    MUTABLE_FIRMWARE = 1
    HARDWARE_CONFIGURATION = 2
    FIRMWARE_CONFIGURATION = 3
    MEASUREMENT_MANIFEST = 4
    DEVICE_MODE = 5
    MUTABLE_FIRMWARE_VERSION = 6
    MUTABLE_FIRMWARE_SVN = 7
    HASH_EXTENDED = 8
    INFORMATIONAL = 9
    STRUCTURED_MANIFEST = 10


DMTF_RAW_BIT_STREAM = 0x80
"""b7 of DMTFSpecMeasurementValueType: the value is raw, not a digest."""


class RegistryId(IntEnum):
    """Standards-body registry IDs (DSP0274 Table 53)."""

    DMTF = 0x0
    TCG = 0x1
    USB = 0x2
    PCISIG = 0x3
    IANA = 0x4
    HDBASET = 0x5
    MIPI = 0x6
    CXL = 0x7
    JEDEC = 0x8
    VESA = 0x9
    IANA_CBOR = 0xA
    DMTF_DSP = 0xB


# --- key pairs, certificate models, endpoint info (DSP0274 1.3) ------------------------------

class KeyPairCapabilities(IntFlag):
    """KEY_PAIR_INFO Capabilities (DSP0274 1.3 Table 105)."""

    GEN_KEY = 1 << 0
    ERASABLE = 1 << 1
    CERT_ASSOC = 1 << 2
    KEY_USAGE = 1 << 3
    ASYM_ALGO = 1 << 4
    SHAREABLE = 1 << 5


class KeyUsage(IntFlag):
    """KeyUsageMask bits (DIGESTS, KEY_PAIR_INFO, SET_KEY_PAIR_INFO; PROTOCOLS.md §3.4)."""

    KEY_EXCHANGE = 1 << 0
    CHALLENGE = 1 << 1
    MEASUREMENT = 1 << 2
    ENDPOINT_INFO = 1 << 3
    STANDARDS = 1 << 14
    VENDOR = 1 << 15


class KeyPairOperation(IntEnum):
    """SET_KEY_PAIR_INFO Param1 (SetKeyPairInfoOperation)."""

    CHANGE = 0
    ERASE = 1
    GENERATE = 2


CERT_MODEL_NONE: Final = 0
CERT_MODEL_DEVICE: Final = 1
CERT_MODEL_ALIAS: Final = 2
CERT_MODEL_GENERIC: Final = 3
"""CertModel values (DSP0274 1.3 CertificateInfo b[2:0]): none, device certificate, alias, generic."""


class EndpointInfoSubcode(IntEnum):
    """GET_ENDPOINT_INFO Param1 (DSP0274 1.3 Table 96)."""

    DEVICE_CLASS_IDENTIFIER = 1


class EndpointInfoAttributes(IntFlag):
    """GET_ENDPOINT_INFO RequestAttributes."""

    SIGNATURE_REQUESTED = 1
