"""SPDM (DSP0274 1.0-1.3) over PCIe DOE: codec, crypto, requester and responder engines, transports.

Start at :mod:`spdm.authenticate` for the host flow, :mod:`devsec.emulator` for
the device, :mod:`spdm.messages` for any message's wire format.
"""
