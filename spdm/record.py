"""``record``: a dataclass whose methods are made without compiling code per class.

Every message, event and value of devsec is a dataclass, and a one-shot process
(a udev hook, ``devsec connect``) creates some seventy of them before it sends a
byte.  On CPython 3.11 ``dataclasses.dataclass`` compiles each generated method
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, and ``__setattr__`` /
``__delattr__`` when frozen) from source, about 0.4 ms a class, which made the
class statements a third of what importing the connect path cost (issue 14).

:func:`record` takes the same arguments and gives the same class, with the
work split so that nothing is compiled per class:

- ``dataclasses.dataclass`` still does the field bookkeeping (``fields()``,
  ``replace()``, ``asdict()``, ``__match_args__``, slots, the checks on field
  order and mutable defaults), asked for no methods, which compiles nothing;
- ``__eq__``, ``__hash__``, ``__repr__``, the frozen ``__setattr__`` /
  ``__delattr__`` and the slots pickling pair are closures over the class's
  field names: one function object each, no source;
- ``__init__`` keeps a real signature and the generated code's speed: its
  body depends only on the *shape* of the fields (how many, which take a
  factory, which are keyword-only, frozen or not), so it is compiled once per
  shape with placeholder names and renamed per class with
  :meth:`types.CodeType.replace`; and it is made on first use, so a process
  compiles only the shapes of the records it instantiates.

The generated methods behave as dataclasses' do (``tests/spdm/test_record.py``
compares every record of devsec with the dataclass its arguments would give).
Two differences, both in error paths no code relies on: a frozen slots record
refuses a non-field attribute with ``AttributeError`` where 3.11's dataclass
raises ``TypeError`` from a stale ``super``; and ``__dataclass_params__`` is
set after the class is made (dataclasses is shown no frozen base while it
works, since it is asked for no frozen methods).  ``InitVar`` fields are refused.
"""

from __future__ import annotations

import dataclasses
import reprlib
import sys
import threading
from collections.abc import Callable
from operator import attrgetter
from types import CellType, CodeType, FunctionType
from typing import Any, TypeVar, cast, dataclass_transform, overload

__all__ = ["record"]

_T = TypeVar("_T", bound=type)


class _Factory:
    """The default of a parameter whose field has a ``default_factory`` (shown as dataclasses show it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_HAS_DEFAULT_FACTORY = _Factory()
_BOOKKEEPING = threading.Lock()
_TEMPLATES: dict[str, CodeType] = {}
"""Compiled ``__init__`` bodies by shape (their placeholder source)."""


@overload
def record(cls: _T, /) -> _T: ...


@overload
def record(*, frozen: bool = False, slots: bool = False, eq: bool = True) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: _T | None = None, /, *, frozen: bool = False, slots: bool = False,
           eq: bool = True) -> _T | Callable[[_T], _T]:
    """``dataclasses.dataclass`` with the same meaning of ``frozen``, ``slots`` and ``eq``."""

    def wrap(cls: _T) -> _T:
        return _process(cls, frozen=frozen, slots=slots, eq=eq)

    return wrap if cls is None else wrap(cls)


def _process(cls: _T, *, frozen: bool, slots: bool, eq: bool) -> _T:
    own_doc = cls.__dict__.get("__doc__")
    class_hash = cls.__dict__.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (class_hash is dataclasses.MISSING
                         or (class_hash is None and "__eq__" in cls.__dict__))
    bases = [base.__dict__["__dataclass_params__"] for base in cls.__mro__[1:]
             if "__dataclass_params__" in base.__dict__]
    if bases and any(base.frozen != frozen for base in bases):
        raise TypeError(f"cannot inherit {'' if frozen else 'non-'}frozen dataclass from a "
                        f"{'non-' if frozen else ''}frozen one")
    if frozen:
        for name in ("__setattr__", "__delattr__"):
            if name in cls.__dict__:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    with _BOOKKEEPING:
        # dataclasses is asked for no methods, so it must not see frozen bases either (it
        # would refuse a non-frozen class on them); their parameters are put back at once
        for base in bases:
            base.frozen = False
        try:
            made: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, slots=slots)
        finally:
            for base in bases:
                base.frozen = frozen
    params = made.__dataclass_params__
    params.init, params.repr, params.eq, params.frozen = True, True, eq, frozen
    fields = dataclasses.fields(made)
    if any(_is_initvar(f.type) for f in made.__dataclass_fields__.values()):
        raise TypeError(f"{made.__name__}: a record takes no InitVar fields")
    _check_order(fields)
    _set_new(made, "__init__", _LazyInit(made, fields, frozen=frozen, slots=slots))
    _set_new(made, "__repr__", _repr(tuple(f.name for f in fields if f.repr)))
    if eq:
        _set_new(made, "__eq__", _eq(tuple(f.name for f in fields if f.compare)))
    if frozen:
        names = frozenset(f.name for f in fields)
        made.__setattr__, made.__delattr__ = _frozen(made, names)
        if slots:
            made.__getstate__, made.__setstate__ = _slot_state()
    if eq and not explicit_hash:
        made.__hash__ = (_hash(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
                         if frozen else None)
    if not own_doc:
        import inspect  # only for a class without a docstring, as dataclasses does

        try:
            made.__doc__ = made.__name__ + str(inspect.signature(made)).replace(" -> None", "")
        except (TypeError, ValueError):
            made.__doc__ = made.__name__
    return cast(_T, made)


def _check_order(fields: tuple[dataclasses.Field[Any], ...]) -> None:
    """Refuse, when the class is made as dataclasses does, a positional parameter without a
    default after one with (``__init__`` itself is made later)."""
    seen_default = False
    for f in fields:
        if f.init and not f.kw_only:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if seen_default:
                    raise TypeError(f"non-default argument {f.name!r} follows default argument")
            else:
                seen_default = True


def _is_initvar(annotation: object) -> bool:
    """Whether a field is an ``InitVar``, written as a type or as a string annotation."""
    if isinstance(annotation, str):
        return annotation.startswith(("InitVar", "dataclasses.InitVar"))
    return annotation is dataclasses.InitVar or isinstance(annotation, dataclasses.InitVar)


def _set_new(cls: type, name: str, value: object) -> None:
    """Add ``name`` unless the class body defined it (dataclasses' rule for generated methods)."""
    if name not in cls.__dict__:
        setattr(cls, name, value)


class _LazyInit:
    """A record's ``__init__``, made the first time anything looks it up.

    Instantiating the class, ``cls.__init__`` and ``inspect.signature(cls)`` all
    go through this descriptor, which makes the real function (:func:`_init`),
    puts it on the class in its own place and hands it out: nobody sees the
    descriptor, and a class a process never instantiates never has its
    ``__init__`` made (most of a one-shot command's records).
    """

    __slots__ = ("_cls", "_fields", "_frozen", "_slots")

    def __init__(self, cls: type, fields: tuple[dataclasses.Field[Any], ...], *, frozen: bool,
                 slots: bool) -> None:
        self._cls, self._fields, self._frozen, self._slots = cls, fields, frozen, slots

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        function = _init(self._cls, self._fields, frozen=self._frozen, slots=self._slots)
        setattr(self._cls, "__init__", function)  # noqa: B010 (the class's own attribute, by name)
        return function.__get__(instance, owner)


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...], *, frozen: bool,
          slots: bool) -> FunctionType:
    """``__init__`` as dataclasses writes it, from the compiled template of its shape."""
    self_name = "__dataclass_self__" if any(f.name == "self" for f in fields) else "self"
    placeholder = {f.name: f"__field_{n}" for n, f in enumerate(fields)}
    closure: dict[str, object] = {"__dataclass_setattr__": object.__setattr__,
                                  "__dataclass_HAS_DEFAULT_FACTORY__": _HAS_DEFAULT_FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    defaults: list[object] = []
    kwdefaults: dict[str, object] = {}
    annotations: dict[str, Any] = {}
    body: list[str] = []
    for n, f in enumerate(fields):
        name = placeholder[f.name]
        has_factory = f.default_factory is not dataclasses.MISSING
        if f.init:
            default: object = _HAS_DEFAULT_FACTORY if has_factory else f.default
            annotations[f.name] = f.type
            if f.kw_only:
                keyword.append(name)
                if default is not dataclasses.MISSING:
                    kwdefaults[f.name] = default
            else:
                if default is not dataclasses.MISSING:
                    defaults.append(default)
                positional.append(name)
            value = (f"__dataclass_dflt_{n}__() if {name} is __dataclass_HAS_DEFAULT_FACTORY__ else {name}"
                     if has_factory else name)
        elif has_factory:
            value = f"__dataclass_dflt_{n}__()"
        elif slots and f.default is not dataclasses.MISSING:
            value = f"__dataclass_dflt_{n}__"
        else:
            continue  # read from the class attribute that holds the default
        if has_factory:
            closure[f"__dataclass_dflt_{n}__"] = f.default_factory
        elif not f.init:
            closure[f"__dataclass_dflt_{n}__"] = f.default
        body.append(f"__dataclass_setattr__({self_name}, {name!r}, {value})" if frozen
                    else f"{self_name}.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append(f"{self_name}.__post_init__()")
    annotations["return"] = None
    signature = ", ".join([self_name, *positional, *(["*", *keyword] if keyword else [])])
    code = _template(signature, sorted(closure), body)
    rename = {v: k for k, v in placeholder.items()}
    code = code.replace(
        co_varnames=tuple(rename.get(name, name) for name in code.co_varnames),
        co_names=tuple(rename.get(name, name) for name in code.co_names),
        co_consts=tuple(rename.get(c, c) if isinstance(c, str) else c for c in code.co_consts),
        co_name="__init__", co_qualname=f"{cls.__qualname__}.__init__")
    module = sys.modules.get(cls.__module__)
    function = FunctionType(code, vars(module) if module is not None else {}, "__init__",
                            tuple(defaults) or None,
                            tuple(CellType(closure[name]) for name in code.co_freevars))
    function.__kwdefaults__ = kwdefaults or None
    function.__qualname__ = f"{cls.__qualname__}.__init__"
    function.__annotations__ = annotations
    return function


def _template(signature: str, free: list[str], body: list[str]) -> CodeType:
    """The code of ``def __init__(signature): body`` with ``free`` as its free variables, compiled
    once per distinct placeholder text."""
    lines = "".join(f"  {line}\n" for line in body) or "  pass\n"
    source = (f"def __create_fn__({', '.join(free)}):\n"
              f" def __init__({signature}):\n{lines}"
              f" return __init__\n")
    code = _TEMPLATES.get(source)
    if code is None:
        outer = compile(source, "<record __init__>", "exec")
        creator = next(c for c in outer.co_consts if isinstance(c, CodeType))
        code = next(c for c in creator.co_consts if isinstance(c, CodeType))
        _TEMPLATES[source] = code
    return code


def _values(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """The field values of an instance as a tuple (what dataclasses' methods compare and hash)."""
    if not names:
        return lambda _self: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return attrgetter(*names)


def _eq(names: tuple[str, ...]) -> Callable[[object, object], object]:
    values = _values(names)

    def __eq__(self: object, other: object) -> object:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hash(names: tuple[str, ...]) -> Callable[[object], int]:
    values = _values(names)

    def __hash__(self: object) -> int:
        return hash(values(self))

    return __hash__


def _repr(names: tuple[str, ...]) -> Callable[[object], str]:
    @reprlib.recursive_repr()
    def __repr__(self: object) -> str:
        return (f"{self.__class__.__qualname__}("
                + ", ".join([f"{name}={getattr(self, name)!r}" for name in names]) + ")")

    return __repr__


def _frozen(cls: Any, names: frozenset[str]) -> tuple[Callable[[object, str, object], None],
                                                      Callable[[object, str], None]]:
    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __setattr__, __delattr__


def _slot_state() -> tuple[Callable[[Any], list[Any]], Callable[[Any, list[Any]], None]]:
    """``__getstate__``/``__setstate__`` so a frozen slots record pickles and copies (as dataclasses adds)."""

    def __getstate__(self: Any) -> list[Any]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    def __setstate__(self: Any, state: list[Any]) -> None:
        for f, value in zip(dataclasses.fields(self), state, strict=False):
            object.__setattr__(self, f.name, value)

    return __getstate__, __setstate__
