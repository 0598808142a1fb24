"""Hostile evidence trees: what sits at an attribute's name, and how it is named (findings 08, 17).

A tree is read as a real sysfs shows one: regular files only, bounded, and
numbers in names as ASCII digits.  Anything else is a denial with the path,
never a hang, an exhausted memory or an exception out of ``evaluate()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from spdm.errors import DecodeError
from sysfs_bridge import Policy, evaluate, load_policy, read_device_dir, render
from sysfs_bridge.attribute import MAX_BINARY_SIZE, MAX_TEXT_SIZE, read_attribute
from tests.sysfs_bridge.helpers import BDF, model
from tests.sysfs_bridge.helpers import evidence as make_evidence


def _policy(tmp_path: Path) -> Policy:
    from spdm.messages.codes import BaseAsymAlgo

    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    (tmp_path / "policy.toml").write_text('[trust]\nroots = ["root.pem"]\n')
    return load_policy(tmp_path / "policy.toml")


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    link = render(make_evidence(), tmp_path / "sysfs")
    return link, link.resolve()


class _Blocked(Exception):
    pass


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body blocks."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Blocked(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_pristine_tree_is_allowed(tmp_path: Path) -> None:
    link, _ = _tree(tmp_path)
    assert evaluate(_policy(tmp_path), link).allow


def test_a_fifo_does_not_block_evaluate(tmp_path: Path) -> None:
    link, real = _tree(tmp_path)
    (real / "spdm/version").unlink()
    os.mkfifo(real / "spdm/version")
    with _deadline(10):
        decision = evaluate(_policy(tmp_path), link)
    assert not decision.allow
    assert any(f"{real / 'spdm/version'}: a FIFO, not a regular file" in r for r in decision.reasons)


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Run where memory is limited to 1 GiB: the old reader allocated until it ran out."""
    link, real = _tree(tmp_path)
    (real / "certificates/slot0").unlink()
    (real / "certificates/slot0").symlink_to("/dev/zero")
    policy = _policy(tmp_path)
    script = textwrap.dedent(f"""
        import resource
        from pathlib import Path
        from sysfs_bridge import evaluate, load_policy
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.RLIM_INFINITY))
        decision = evaluate(load_policy(Path({str(policy.source)!r})), Path({str(link)!r}))
        print(decision.allow, decision.reasons)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("False")
    assert f"{real / 'certificates/slot0'}: a symlink, not a regular file" in result.stdout


@pytest.mark.parametrize("make", ["fifo", "symlink", "directory", "device", "too-long"])
def test_read_attribute_refuses_what_no_sysfs_attribute_is(tmp_path: Path, make: str) -> None:
    path = tmp_path / "attribute"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "symlink":
        (tmp_path / "target").write_bytes(b"1\n")
        path.symlink_to(tmp_path / "target")
    elif make == "directory":
        path.mkdir()
    elif make == "device":
        path.symlink_to("/dev/null")  # a device node cannot be made here; reached through a link
    else:
        path.write_bytes(b"x" * (MAX_TEXT_SIZE + 1))
    with _deadline(10), pytest.raises(DecodeError, match=f"^{path}: "):
        read_attribute(path, MAX_TEXT_SIZE)


def test_read_attribute_reads_up_to_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "attribute"
    path.write_bytes(b"y" * MAX_TEXT_SIZE)
    assert read_attribute(path, MAX_TEXT_SIZE) == b"y" * MAX_TEXT_SIZE
    assert MAX_BINARY_SIZE == 16 << 20


def test_a_write_only_attribute_is_not_read_even_by_root(tmp_path: Path) -> None:
    path = tmp_path / "disconnect"
    path.write_bytes(b"secret")
    path.chmod(0o200)
    with pytest.raises(PermissionError):
        read_attribute(path)


@pytest.mark.parametrize("name", ["\u00b2", "\u0663", "1" * 200, "01x"])
def test_a_measurement_directory_not_named_by_ascii_digits_is_a_denial(tmp_path: Path, name: str) -> None:
    """"²" passes str.isdigit() but not int(): the old reader raised ValueError out of evaluate()."""
    link, real = _tree(tmp_path)
    measurements = real / "measurements"
    shutil.copytree(sorted(measurements.iterdir())[0], measurements / name)
    with pytest.raises(DecodeError, match="not a measurement index directory"):
        read_device_dir(link)
    decision = evaluate(_policy(tmp_path), link)
    assert not decision.allow and "not a measurement index directory" in " ".join(decision.reasons)


@pytest.mark.parametrize("name", ["\u00b2_signature", "\u0663_type", "notes"])
def test_a_signature_file_not_named_by_ascii_digits_is_a_denial(tmp_path: Path, name: str) -> None:
    link, real = _tree(tmp_path)
    shutil.copy(real / "signatures/0_signature", real / "signatures" / name)
    with pytest.raises(DecodeError, match="not a signature log entry"):
        read_device_dir(link)
    assert not evaluate(_policy(tmp_path), link).allow


def test_a_measurement_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    link, real = _tree(tmp_path)
    measurements = real / "measurements"
    first = sorted(measurements.iterdir())[0]
    shutil.copytree(first, tmp_path / "elsewhere")
    (measurements / "200").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DecodeError, match="not a measurement index directory"):
        read_device_dir(link)


def test_bdf_of_the_tree(tmp_path: Path) -> None:
    link, _ = _tree(tmp_path)
    assert read_device_dir(link).bdf == BDF
