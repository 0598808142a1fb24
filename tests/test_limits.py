"""LIMITS.md is the one list of limits on what a peer controls: each one it names exists with its value.

A row's ``Where`` is ``module:NAME`` or ``module:Class.field`` (a dataclass
field's default); its ``Value`` is a Python expression.  A limit changed in
the code but not in LIMITS.md (or the reverse) fails here.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

LIMITS = Path(__file__).resolve().parents[1] / "LIMITS.md"
ROW = re.compile(r"^\| (?P<name>[^|]+) \| `(?P<value>[^`]+)` \| `(?P<where>[\w.]+:[\w.]+)` \|")


def rows() -> list[tuple[str, str, str]]:
    found = [(m["name"].strip(), m["value"], m["where"])
             for line in LIMITS.read_text().splitlines() if (m := ROW.match(line))]
    return found


def actual(where: str) -> object:
    module_name, _, attribute = where.partition(":")
    module = importlib.import_module(module_name)
    owner, _, field_name = attribute.partition(".")
    value = getattr(module, owner)
    if not field_name:
        return value
    defaults = {f.name: f.default for f in dataclasses.fields(value)}
    return defaults[field_name]


def test_limits_md_lists_limits() -> None:
    assert len(rows()) >= 25
    names = [name for name, _, _ in rows()]
    assert len(names) == len(set(names)), "each limit is listed once"


@pytest.mark.parametrize(("name", "value", "where"), rows(), ids=[r[0] for r in rows()])
def test_each_limit_exists_with_its_value(name: str, value: str, where: str) -> None:
    expected = eval(value, {"__builtins__": {}})  # noqa: S307 -- LIMITS.md is ours
    assert actual(where) == expected, f"{name}: {where} is {actual(where)!r}, LIMITS.md says {value}"
