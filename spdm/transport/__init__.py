"""DOE transports: how whole DOE data objects travel between host and device.

Everything above this package (the SPDM engines, the TSM layer) sees one
interface, ``DoeTransport``: one complete DOE data object in, one complete
data object out.  The package provides the DOE framing and Discovery codec
(``doe``), the device-side dispatcher (``endpoint``), and three ways to carry
objects: in process (``pipe``), the DMTF spdm-emu TCP protocol
(``emu_socket``), and the DOE mailbox registers in config space (``mailbox``
over ``configspace``: an emulated function, or a real device's sysfs file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from spdm.lazy import lazy_exports

if TYPE_CHECKING:
    from spdm.transport.configspace import (
        EXT_CAP_ID_DOE,
        ConfigSpace,
        DeviceMailbox,
        ModelConfigSpace,
        SysfsConfigSpace,
        device_directory,
        find_extended_capabilities,
        open_mailbox,
    )
    from spdm.transport.doe import (
        PCI_SIG_VENDOR_ID,
        DataObject,
        DataObjectType,
        DiscoveryRequest,
        DiscoveryResponse,
        data_object_length,
        decode_data_object,
        decode_discovery_request,
        decode_discovery_response,
        discover,
        encode_data_object,
        encode_discovery_request,
        encode_discovery_response,
    )
    from spdm.transport.emu_frame import SocketCommand, SocketTransportType
    from spdm.transport.emu_socket import EmuSocketClient, EmuSocketServer
    from spdm.transport.endpoint import DoeEndpoint, ObjectHandler
    from spdm.transport.mailbox import DoeMailbox, DoeMailboxModel, MailboxInUse
    from spdm.transport.ownership import KernelTsmHoldsDevice, kernel_tsm_claims
    from spdm.transport.pipe import PipeTransport

__all__ = [
    "EXT_CAP_ID_DOE",
    "PCI_SIG_VENDOR_ID",
    "ConfigSpace",
    "DeviceMailbox",
    "DataObject",
    "DataObjectType",
    "DiscoveryRequest",
    "DiscoveryResponse",
    "DoeEndpoint",
    "DoeMailbox",
    "DoeMailboxModel",
    "DoeTransport",
    "EmuSocketClient",
    "EmuSocketServer",
    "KernelTsmHoldsDevice",
    "MailboxInUse",
    "ModelConfigSpace",
    "ObjectHandler",
    "PipeTransport",
    "SocketCommand",
    "SocketTransportType",
    "SysfsConfigSpace",
    "data_object_length",
    "decode_data_object",
    "decode_discovery_request",
    "decode_discovery_response",
    "device_directory",
    "discover",
    "encode_data_object",
    "encode_discovery_request",
    "encode_discovery_response",
    "find_extended_capabilities",
    "kernel_tsm_claims",
    "open_mailbox",
]


@runtime_checkable
class DoeTransport(Protocol):
    """Carries whole DOE data objects between host and device.

    Implemented by ``PipeTransport``, ``EmuSocketClient`` and ``DoeMailbox``.
    Exchanges are strictly one request, one response; implementations are not
    thread-safe.
    """

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Send one complete DOE data object; return the complete response object.

        ``timeout`` (seconds) extends the transport's own wait for this one
        response (never shortens it): the requester derives it from the
        responder's CTExponent, which may allow up to 2**23 us.
        Raises ``TransportError`` (``TransportTimeout`` for timeouts) when the
        object could not be delivered or no response came back.
        """
        ...

    def close(self) -> None:
        """Release the transport's resources; later exchanges fail."""
        ...


__getattr__, __dir__ = lazy_exports(__name__, {
    "EXT_CAP_ID_DOE": "spdm.transport.configspace",
    "ConfigSpace": "spdm.transport.configspace",
    "DeviceMailbox": "spdm.transport.configspace",
    "ModelConfigSpace": "spdm.transport.configspace",
    "SysfsConfigSpace": "spdm.transport.configspace",
    "device_directory": "spdm.transport.configspace",
    "find_extended_capabilities": "spdm.transport.configspace",
    "open_mailbox": "spdm.transport.configspace",
    "PCI_SIG_VENDOR_ID": "spdm.transport.doe",
    "DataObject": "spdm.transport.doe",
    "DataObjectType": "spdm.transport.doe",
    "DiscoveryRequest": "spdm.transport.doe",
    "DiscoveryResponse": "spdm.transport.doe",
    "data_object_length": "spdm.transport.doe",
    "decode_data_object": "spdm.transport.doe",
    "decode_discovery_request": "spdm.transport.doe",
    "decode_discovery_response": "spdm.transport.doe",
    "discover": "spdm.transport.doe",
    "encode_data_object": "spdm.transport.doe",
    "encode_discovery_request": "spdm.transport.doe",
    "encode_discovery_response": "spdm.transport.doe",
    "SocketCommand": "spdm.transport.emu_frame",
    "SocketTransportType": "spdm.transport.emu_frame",
    "EmuSocketClient": "spdm.transport.emu_socket",
    "EmuSocketServer": "spdm.transport.emu_socket",
    "DoeEndpoint": "spdm.transport.endpoint",
    "ObjectHandler": "spdm.transport.endpoint",
    "DoeMailbox": "spdm.transport.mailbox",
    "DoeMailboxModel": "spdm.transport.mailbox",
    "MailboxInUse": "spdm.transport.mailbox",
    "KernelTsmHoldsDevice": "spdm.transport.ownership",
    "kernel_tsm_claims": "spdm.transport.ownership",
    "PipeTransport": "spdm.transport.pipe",
})
"""Public name -> its home module, imported on first use (``import spdm`` stays cheap)."""
