"""``spdm.record`` makes the class ``dataclasses.dataclass`` would, without compiling per class.

Two kinds of evidence: hand-written classes covering every option devsec uses,
and every record of the library rebuilt with ``dataclasses.dataclass`` from the
same body and fields, then compared by signature and by behaviour (construction,
values, ``repr``, equality, hashing, immutability, copying).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import pkgutil
import re
from typing import Any, ClassVar  # noqa: F401  (ClassVar: dataclasses resolves string annotations here)

import pytest

import spdm.record
from spdm.record import record

PACKAGES = ("spdm", "ide_km", "tdisp", "tsm", "sysfs_bridge", "devsec")
GENERATED = {"__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__",
             "__getstate__", "__setstate__"}
BOOKKEEPING = {"__dict__", "__weakref__", "__slots__", "__dataclass_fields__", "__dataclass_params__",
               "__match_args__"}


class Token:
    """A distinct, hashable constructor argument whose ``repr`` is stable."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"Token({self.number})"


def _made_by(value: object) -> str | None:
    """The file of a method's code (``<string>`` for dataclasses', record's otherwise)."""
    code = getattr(getattr(value, "__wrapped__", value), "__code__", None)
    return code.co_filename if code is not None else None


RECORD_FILES = {spdm.record.__file__, "<record __init__>"}


def library_dataclasses() -> list[type]:
    """Every dataclass the library's modules define (each module imported)."""
    found: dict[str, type] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (isinstance(value, type) and value.__module__ == module.__name__
                        and "__dataclass_fields__" in value.__dict__):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


LIBRARY = library_dataclasses()


def reference(cls: type) -> type:
    """``cls`` made again from its body and fields by ``dataclasses.dataclass``."""
    own = cls.__dict__.get("__annotations__", {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    namespace: dict[str, Any] = {}
    for name, value in cls.__dict__.items():
        if name in BOOKKEEPING or name in fields or (name in GENERATED and _made_by(value) in RECORD_FILES):
            continue
        namespace[name] = value
    for name in own:
        if name in fields:
            f = fields[name]
            namespace[name] = dataclasses.field(default=f.default, default_factory=f.default_factory,
                                                init=f.init, repr=f.repr, hash=f.hash, compare=f.compare,
                                                kw_only=f.kw_only)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    return dataclasses.dataclass(made, frozen=params.frozen, eq=params.eq, slots="__slots__" in cls.__dict__)


def outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What a call gave: ``("ok", value)`` or ``("raised", (type, message))``."""
    try:
        return "ok", call(*args, **kwargs)
    except Exception as exc:  # the two classes must fail alike, whatever the failure
        return "raised", (type(exc), str(exc))


def arguments(cls: type) -> tuple[list[Any], dict[str, Any]]:
    """A Token for each parameter of ``__init__`` without a default."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for number, parameter in enumerate(inspect.signature(cls).parameters.values()):
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = Token(number)
        else:
            args.append(Token(number))
    return args, kwargs


def test_the_library_makes_every_dataclass_as_a_record() -> None:
    """A plain ``@dataclass`` in the library would compile its methods at import again (issue 14)."""
    assert len(LIBRARY) > 250
    plain = [f"{cls.__module__}.{cls.__qualname__}" for cls in LIBRARY
             if any(_made_by(cls.__dict__.get(name)) == "<string>" for name in GENERATED)]
    assert plain == []


def test_every_library_record_matches_its_dataclass() -> None:
    built = 0
    for cls in LIBRARY:
        ref = reference(cls)
        where = f"{cls.__module__}.{cls.__qualname__}"
        init, ref_init = cls.__init__, ref.__init__  # type: ignore[misc]
        assert str(inspect.signature(init)) == str(inspect.signature(ref_init)), where
        assert init.__annotations__ == ref_init.__annotations__, where
        assert cls.__match_args__ == ref.__match_args__, where  # type: ignore[attr-defined]
        assert (cls.__hash__ is None) == (ref.__hash__ is None), where
        assert cls.__dataclass_params__.frozen == ref.__dataclass_params__.frozen, where  # type: ignore[attr-defined]
        args, kwargs = arguments(cls)
        ours, theirs = outcome(cls, *args, **kwargs), outcome(ref, *args, **kwargs)
        assert ours[0] == theirs[0], where
        if ours[0] == "raised":
            assert ours[1] == theirs[1], where
            continue
        built += 1
        compare_instances(cls, ours[1], theirs[1], where)
    assert built > 250  # most records take arbitrary values: the behavioural comparison is not vacuous


def same_value(a: object, b: object) -> bool:
    """Equal, or two objects of one type that only compare by identity (each made by a factory)."""
    return bool(a == b) or (type(a) is type(b) and type(a).__eq__ is object.__eq__)


def compare_instances(cls: type, ours: Any, theirs: Any, where: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    values = [(getattr(ours, n), getattr(theirs, n)) for n in names]
    assert all(same_value(a, b) for a, b in values), where
    assert re.sub(" at 0x[0-9a-f]+", "", repr(ours)) == re.sub(" at 0x[0-9a-f]+", "", repr(theirs)), where
    hashed = outcome(hash, ours), outcome(hash, theirs)
    assert hashed[0][0] == hashed[1][0], where
    if _made_by(cls.__dict__.get("__hash__")) in RECORD_FILES and all(a == b for a, b in values):
        assert hashed[0] == hashed[1], where  # the field tuple's hash, as dataclasses'
    twin_ours, twin_theirs = copy.copy(ours), copy.copy(theirs)
    assert (ours == twin_ours) == (theirs == twin_theirs), where
    assert (ours == object()) == (theirs == object()), where
    for f in dataclasses.fields(cls):
        changed_ours, changed_theirs = copy.copy(ours), copy.copy(theirs)
        object.__setattr__(changed_ours, f.name, Token(-1))
        object.__setattr__(changed_theirs, f.name, Token(-1))
        assert (ours == changed_ours) == (theirs == changed_theirs), (where, f.name)
    if cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        for name in names:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(ours, name, None)
            with pytest.raises(dataclasses.FrozenInstanceError):
                delattr(ours, name)


# -- hand-written classes: each option on its own, against dataclasses


def both(body: dict[str, Any], annotations: dict[str, str], **params: Any) -> list[tuple[str, Any]]:
    """The same class body made by ``record`` and by ``dataclasses.dataclass`` (or how each refused it)."""
    made = []
    for decorate in (record, dataclasses.dataclass):
        namespace = {**body, "__annotations__": dict(annotations), "__module__": __name__}
        made.append(outcome(decorate(**params), type("Sample", (), namespace)))
    return made


OPTIONS = [{}, {"frozen": True}, {"frozen": True, "slots": True}, {"slots": True}, {"eq": False}]
BODIES: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({}, {}),
    ({}, {"a": "int"}),
    ({"b": 2}, {"a": "int", "b": "int"}),
    ({"b": dataclasses.field(default_factory=list)}, {"a": "int", "b": "list[int]"}),
    ({"a": dataclasses.field(default=1, repr=False, compare=False)}, {"a": "int", "b": "int"}),
    ({"a": dataclasses.field(default=0, kw_only=True)}, {"a": "int", "b": "int"}),
    ({"c": dataclasses.field(init=False, default=5)}, {"a": "int", "c": "int"}),
    ({"c": dataclasses.field(init=False, default_factory=dict)}, {"a": "int", "c": "dict[str, int]"}),
    ({"b": dataclasses.field(default=1, hash=False)}, {"a": "int", "b": "int"}),
    ({"K": 3}, {"K": "ClassVar[int]", "a": "int"}),
    ({}, {"self": "int"}),
]


@pytest.mark.parametrize("params", OPTIONS, ids=lambda p: ",".join(p) or "plain")
@pytest.mark.parametrize("body", BODIES, ids=lambda b: ",".join(b[1]) or "empty")
def test_each_option_matches_dataclasses(params: dict[str, Any],
                                         body: tuple[dict[str, Any], dict[str, str]]) -> None:
    made = both(*body, **params)
    if made[1][0] == "raised":
        assert made[0] == made[1]  # refused alike (a field without a default after one with)
        return
    ours, theirs = made[0][1], made[1][1]
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__doc__ == theirs.__doc__  # a class without a docstring gets its signature
    assert ours.__match_args__ == theirs.__match_args__
    assert (ours.__hash__ is None) == (theirs.__hash__ is None)
    args, kwargs = arguments(theirs)
    a, b = ours(*args, **kwargs), theirs(*args, **kwargs)
    compare_instances(ours, a, b, "Sample")
    # copies go through the pickling protocol (a frozen slots class: __getstate__/__setstate__)
    assert copy.copy(a) == a or not params.get("eq", True)
    assert repr(copy.deepcopy(a)) == repr(a)


def test_post_init_runs_after_the_fields_are_set() -> None:
    seen: list[int] = []

    @record(frozen=True, slots=True)
    class Checked:
        value: int
        extra: tuple[int, ...] = dataclasses.field(default_factory=tuple)

        def __post_init__(self) -> None:
            seen.append(self.value)
            if self.value < 0:
                raise ValueError("negative")

    assert Checked(3) == Checked(3, ())
    assert seen == [3, 3]
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)


def test_subclasses_inherit_fields_and_frozenness_rules() -> None:
    @record(frozen=True, slots=True)
    class Base:
        a: int
        raw: bytes = dataclasses.field(default=b"", compare=False, repr=False, kw_only=True)

    @record(frozen=True, slots=True)
    class Child(Base):
        b: int = 0

    assert str(inspect.signature(Child)) == "(a: 'int', b: 'int' = 0, *, raw: 'bytes' = b'') -> None"
    assert Child(1, raw=b"x") == Child(1)
    assert repr(Child(1, 2)).endswith("<locals>.Child(a=1, b=2)")
    assert Child(1) != Base(1)
    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen one"):
        @record
        class Thawed(Base):  # type: ignore[misc]
            c: int = 0
    with pytest.raises(TypeError, match="cannot inherit frozen dataclass from a non-frozen one"):
        @record
        class Mutable:
            a: int

        @record(frozen=True)
        class Frozen(Mutable):  # type: ignore[misc]
            b: int = 0

    @dataclasses.dataclass(frozen=True)
    class PlainChild(Base):  # a plain dataclass may still extend a record
        c: int = 0

    assert PlainChild(1, 2) == PlainChild(1, 2)


def test_the_class_body_wins_over_generated_methods() -> None:
    def own_repr(self: object) -> str:
        return "own"

    def own_eq(self: object, other: object) -> bool:
        return True

    body = {"__repr__": own_repr, "__eq__": own_eq}
    for params in OPTIONS:
        ours, theirs = (made for _, made in both(body, {"a": "int"}, **params))
        assert repr(ours(1)) == "own" and ours(1) == ours(2)
        # __eq__ in the body without __hash__: dataclasses still hashes a frozen class
        assert (ours.__hash__ is None) == (theirs.__hash__ is None)
    with pytest.raises(TypeError, match="Cannot overwrite attribute __setattr__"):
        @record(frozen=True)
        class Writable:
            a: int

            def __setattr__(self, name: str, value: object) -> None:
                object.__setattr__(self, name, value)


def test_dataclasses_rules_on_fields_still_apply() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        record(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))
    with pytest.raises(ValueError, match="mutable default"):
        record(type("Shared", (), {"__annotations__": {"a": "list[int]"}, "a": []}))
    with pytest.raises(TypeError, match="InitVar"):
        record(type("Init", (), {"__annotations__": {"a": "InitVar[int]"}}))


def test_init_is_made_on_first_use_once_per_shape() -> None:
    """Records with the same shape share one compiled template, renamed; a record nobody
    instantiates or inspects never has its ``__init__`` made."""
    shapes = len(spdm.record._TEMPLATES)
    made = [record(frozen=True)(type(name, (), {"__doc__": "A record.",
                                                "__annotations__": {name: "int", f"{name}_2": "int"}}))
            for name in ("alpha", "beta", "gamma")]
    assert len(spdm.record._TEMPLATES) == shapes
    assert [type(cls.__dict__["__init__"]).__name__ for cls in made] == ["_LazyInit"] * 3
    assert [cls(1, 2) for cls in made] == [made[0](1, 2), made[1](1, 2), made[2](1, 2)]
    assert len(spdm.record._TEMPLATES) <= shapes + 1
    init = made[1].__dict__["__init__"]
    assert inspect.isfunction(init) and init.__code__.co_varnames == ("self", "beta", "beta_2")
    assert init.__qualname__ == "beta.__init__" and made[1](beta=3, beta_2=4).beta_2 == 4
