"""TDISP: the TDI security protocol over an SPDM secured session, and the TSM layer.

Not built yet: issues 4 and 6.
"""
