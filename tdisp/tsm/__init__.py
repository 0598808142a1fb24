"""The TSM layer: the one place that composes SPDM, IDE_KM and TDISP.

:mod:`.device` assembles an emulated TEE-IO device (SPDM responder with the
IDE_KM and TDISP device models behind its PCI-SIG vendor-defined handler);
:mod:`.link` carries the IDE_KM and TDISP requesters' payloads through an SPDM
secure session and runs their flows.  The vendor-neutral TSM interface with
backends (connect / bind / accept / unbind / info) builds on these (issue 6).
"""
