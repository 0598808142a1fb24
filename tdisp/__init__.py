"""TDISP: the TDI security protocol over an SPDM secured session, and the TSM layer (issues 4, 6; not built yet)."""
