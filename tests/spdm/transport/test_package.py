"""Tests for spdm.transport's public surface (``__init__``)."""

from __future__ import annotations

import spdm.transport as transport


def test_all_names_exist() -> None:
    assert sorted(transport.__all__) == sorted(set(transport.__all__))
    for name in transport.__all__:
        assert getattr(transport, name) is not None


def test_protocol_is_structural() -> None:
    assert isinstance(transport.PipeTransport(lambda r: r), transport.DoeTransport)
    assert not isinstance(object(), transport.DoeTransport)
