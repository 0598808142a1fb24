"""WireMessage.with_raw is dataclasses.replace(message, raw=...) for every message.

The requester sets ``raw`` on each request it sends with it, the responder on the
ALGORITHMS it negotiates from; it copies ``__dict__`` rather than running
``__init__`` again, which holds only while every message is a frozen record
without slots, ``__post_init__`` or fields kept out of ``__init__``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest

import ide_km
import spdm
import tdisp
from spdm.codec import CodecContext, WireMessage
from spdm.messages import Message
from tests.spdm.test_messages import CASES


def _all_message_classes() -> list[type[WireMessage]]:
    for package in (spdm, ide_km, tdisp):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found: list[type[WireMessage]] = []
    pending: list[type[WireMessage]] = [WireMessage]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


CLASSES = _all_message_classes()


def test_every_message_class_is_what_with_raw_copies() -> None:
    assert len(CLASSES) > 90  # SPDM, IDE_KM and TDISP messages and the records decoded alone
    for cls in CLASSES:
        assert "__slots__" not in vars(cls), cls.__name__
        assert not hasattr(cls, "__post_init__"), cls.__name__
        assert cls.__dataclass_params__.frozen, cls.__name__  # type: ignore[attr-defined]
        assert all(f.init for f in dataclasses.fields(cls)), cls.__name__


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_with_raw_is_replace(message: Message, ctx: CodecContext) -> None:
    raw = message.encode(ctx)
    copy = message.with_raw(raw)
    expected = dataclasses.replace(message, raw=raw)
    assert type(copy) is type(expected)
    assert vars(copy) == vars(expected)
    assert copy == message and copy.raw == raw
    assert message.raw == b""  # the original is left alone
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.raw = b""  # type: ignore[misc]
