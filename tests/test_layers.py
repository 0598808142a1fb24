"""The layering of ARCHITECTURE.md, enforced: each package imports only the layers below it.

``spdm`` <- ``ide_km``, ``tdisp`` (each only ``spdm``, never each other) <- ``tsm`` <-
``sysfs_bridge`` <- ``devsec``.  No package imports a private name (a ``_``-prefixed
module or attribute) of another package.  Read from the source with :mod:`ast`, so a
lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ALLOWED: dict[str, frozenset[str]] = {
    "spdm": frozenset(),
    "ide_km": frozenset({"spdm"}),
    "tdisp": frozenset({"spdm"}),
    "tsm": frozenset({"spdm", "ide_km", "tdisp"}),
    "sysfs_bridge": frozenset({"spdm", "ide_km", "tdisp", "tsm"}),
    "devsec": frozenset({"spdm", "ide_km", "tdisp", "tsm", "sysfs_bridge"}),
}
"""Package -> the packages of ours it may import."""


def _imports(path: Path) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, absolute module, names imported from it) for every import in a module."""
    package = path.relative_to(ROOT).with_suffix("").parts
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module or ""
            yield node.lineno, module, tuple(alias.name for alias in node.names)


def _modules() -> list[Path]:
    return sorted(p for package in ALLOWED for p in (ROOT / package).rglob("*.py"))


def test_every_library_package_is_scanned() -> None:
    assert len(_modules()) > 100


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_and_stay_public(path: Path) -> None:
    own = path.relative_to(ROOT).parts[0]
    wrong: list[str] = []
    for line, module, names in _imports(path):
        top = module.split(".")[0]
        if top not in ALLOWED or top == own:
            continue
        if top not in ALLOWED[own]:
            wrong.append(f"line {line}: {own} imports {module} (a layer above or beside it)")
        private = [part for part in module.split(".")[1:] if part.startswith("_") and part != "__init__"]
        private += [name for name in names if name.startswith("_")]
        if private:
            wrong.append(f"line {line}: {own} imports the private {', '.join(private)} of {module}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The scan itself catches an upward, a sideways and a private import."""
    module = ROOT / "tdisp" / "_layer_probe.py"
    try:
        module.write_text("def f() -> None:\n    from tsm import Tsm\n    from ide_km import X\n"
                          "    from spdm.codec import _private\n")
        found = list(_imports(module))
        assert [(m, n) for _, m, n in found] == [
            ("tsm", ("Tsm",)), ("ide_km", ("X",)), ("spdm.codec", ("_private",))]
        with pytest.raises(AssertionError, match="tsm.*above or beside.*\n.*ide_km.*\n.*private _private"):
            test_imports_point_down_and_stay_public(module)
    finally:
        module.unlink()


def _public_modules() -> list[Path]:
    return [p for p in _modules()
            if p.name == "__init__.py" or not (p.name.startswith("_") or p.name == "__main__.py")]


@pytest.mark.parametrize("path", _public_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_public_module_declares_what_it_offers(path: Path) -> None:
    """STYLE: ``__all__`` everywhere public, naming only what the module defines or imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    declared = [node for node in tree.body if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)]
    if not declared:
        defines = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Assign)]
        assert not defines, "no __all__, yet it defines names"
        return
    names = ast.literal_eval(declared[0].value)
    assert all(not name.startswith("_") for name in names), names
    bound = {t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)
             for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    bound |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    bound |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    assert [name for name in names if name not in bound] == []
