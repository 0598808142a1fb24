"""IDE_KM: PCIe IDE key management over an SPDM secured session (issue 4; not built yet)."""
