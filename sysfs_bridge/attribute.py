"""Read one attribute file of an evidence tree, bounded, and only if it is what sysfs would show.

A sysfs attribute is a regular file: never a symlink, device, FIFO or
socket.  Whoever can write a tree (a devsec render, a copied tree, a test
fixture) can put anything at an attribute's name, and an unbounded
``read_bytes()`` on ``/dev/zero`` exhausts memory while a FIFO blocks
forever.  So every evidence file is checked with ``lstat`` before it is
opened, opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO swapped in between
cannot block the open) and checked again with ``fstat``, and read up to a
cap.

A file whose mode has no read bit at all is a write-only attribute
(``tsm/disconnect``, ``signatures/next_requester_nonce``: mode 0200): the
kernel refuses to open those for reading even for root (kernfs has no
``show``), so they are refused here from the mode alone, which is what root
sees on a real ``/sys`` too.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from spdm.errors import DecodeError

__all__ = ["MAX_BINARY_SIZE", "MAX_TEXT_SIZE", "is_write_only", "read_attribute", "read_with_views"]

MAX_BINARY_SIZE: Final = 16 << 20
"""The most bytes one binary evidence file may hold (16 MiB): the kernel caps a device's whole
signature log at 16 MiB (``spdm_max_log_sz``), so no single transcript, signature or certificate
slot (at most 0xFFFF bytes) legitimately exceeds it."""

MAX_TEXT_SIZE: Final = 4096
"""The most bytes a text attribute may hold: sysfs ``show`` fills at most one page."""

_READ_BITS: Final = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_OPEN: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK: Final = 1 << 16


def is_write_only(path: Path) -> bool:
    """Whether ``path`` is a write-only attribute (a regular file with no read bit).

    Raises:
        OSError: ``path`` cannot be examined (FileNotFoundError when absent).
    """
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and not info.st_mode & _READ_BITS


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise DecodeError(f"{path}: a directory where a file belongs")
    if not stat.S_ISREG(mode):
        kind = ("a symlink" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")
        raise DecodeError(f"{path}: {kind}, not a regular file (a sysfs attribute is one)")


def read_attribute(path: Path, limit: int = MAX_BINARY_SIZE) -> bytes:
    """The contents of one evidence file, refusing anything a sysfs attribute cannot be.

    Args:
        path: the file.
        limit: the most bytes it may hold.

    Returns:
        Its contents (at most ``limit`` bytes).

    Raises:
        FileNotFoundError: nothing is at ``path`` (an absent attribute: the caller decides).
        PermissionError: a write-only attribute (no read bit in its mode) or one the
            caller may not read.
        DecodeError: a directory, symlink, FIFO, device or socket at ``path``, or more
            than ``limit`` bytes (the message names the path).
        OSError: the read failed (EIO from a kernel attribute whose state is unknown).
    """
    info = os.lstat(path)
    _check_regular(path, info.st_mode)
    if not info.st_mode & _READ_BITS:
        raise PermissionError(errno.EACCES, "a write-only attribute", str(path))
    try:
        fd = os.open(path, _OPEN)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the lstat
            raise DecodeError(f"{path}: a symlink, not a regular file") from exc
        raise
    try:
        _check_regular(path, os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise DecodeError(f"{path}: more than {limit} bytes")
    finally:
        os.close(fd)


def read_with_views(directory: Path, source: str, views: Callable[[bytes], Mapping[str, bytes]]) -> bytes:
    """The raw ``source`` file of a directory that also holds views derived from it (b"" without it).

    A directory such as ``mel/`` or ``interface_report/`` holds the bytes the
    device sent plus human-readable views of them; a reader trusts only the
    source and checks that every other file is one of its views, as rendered.

    Args:
        directory: the directory (absent: b"").
        source: the name of the file holding the raw bytes.
        views: every file name -> its contents, from the raw bytes (``source`` included).

    Raises:
        DecodeError: ``source`` is missing or does not decode, an unknown file is
            present, or a view disagrees with the source (the path is named).
        OSError: a file could not be read.
    """
    if not directory.is_dir():
        return b""
    path = directory / source
    try:
        raw = read_attribute(path)
    except FileNotFoundError as exc:
        raise DecodeError(f"{path}: missing") from exc
    try:
        expected = views(raw)
    except DecodeError as exc:
        raise DecodeError(f"{path}: {exc}") from exc
    for name in os.listdir(directory):
        if name.startswith("."):
            continue
        if name not in expected:
            raise DecodeError(f"{directory / name}: not a file of {directory.name}/")
        if name != source and read_attribute(directory / name) != expected[name]:
            raise DecodeError(f"{directory / name}: disagrees with {path}")
    return raw
