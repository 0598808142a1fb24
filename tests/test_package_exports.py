"""A package's exported names never share a name with one of its submodules.

Importing a submodule binds it as an attribute of its package, so once
``sysfs_bridge.render`` (the module) had been imported, ``sysfs_bridge.render``
(the exported function) was the module and calling it raised "'module' object
is not callable" -- in whichever test or daemon happened to import the module
first.  The exports load lazily (:mod:`spdm.lazy`), which made the clash depend
on import order.  The modules were renamed (``spdm.cma``,
``sysfs_bridge.rendering``, ``sysfs_bridge.log_verdict``); this keeps it so.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ("spdm", "spdm.transport", "spdm.crypto", "spdm.messages", "spdm.events", "spdm.requester",
            "spdm.responder", "ide_km", "tdisp", "tsm", "sysfs_bridge", "devsec", "devsec.cli",
            "devsec.emulator", "devsec.conformance")


@pytest.mark.parametrize("name", PACKAGES)
def test_no_export_is_named_like_a_submodule(name: str) -> None:
    package = importlib.import_module(name)
    submodules = {module.name for module in pkgutil.iter_modules(package.__path__)}
    assert not submodules & set(package.__all__)


def test_an_export_stays_itself_after_every_submodule_was_imported() -> None:
    """In a fresh interpreter: import every submodule first, then each export is what its home defines."""
    script = (
        "import importlib, pkgutil\n"
        f"for name in {PACKAGES!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for module in pkgutil.iter_modules(package.__path__):\n"
        "        if module.name == '__main__': continue\n"
        "        importlib.import_module(f'{name}.{module.name}')\n"
        "    for export in package.__all__:\n"
        "        value = getattr(package, export)\n"
        "        assert not isinstance(value, type(importlib)), (name, export)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-600:]
