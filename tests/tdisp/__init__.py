"""Tests of the TDISP codec, state machine, requester and device model (STYLE R10)."""
