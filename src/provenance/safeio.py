"""Writing outputs safely: nothing outside the folder the user gave, no symlink followed, no half-written file.

- ``atomic_output(path)`` opens a temporary file created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``) with a
  random name in the target's own folder, and renames it over ``path`` when the block ends without error
  (``os.replace`` replaces a symlink at ``path`` itself, never the file it points to). A symlink planted at a
  predictable temporary name (``out/.datasheet.md.tmp``) can therefore neither be followed nor collide.
- ``safe_name(text)`` turns an untrusted name (a shard's file name, a takedown id, a domain) into one path
  component: letters, digits, ``.``, ``_``, ``-``; no leading dot; bounded length.
- ``inside(folder, name)`` joins a sanitised name to a folder and checks the result stays inside it.
"""

from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

from .errors import ProvenanceError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


def safe_name(text: str, max_len: int = MAX_NAME) -> str:
    """One safe path component made from ``text`` (never empty, never ``.`` or ``..``, no leading dot)."""
    name = _UNSAFE.sub("_", str(text)).lstrip(".")
    name = name[:max_len] or "_"
    return name


def inside(folder: str | os.PathLike, *names: str) -> Path:
    """``folder / safe_name(n1) / ...``, checked to stay inside ``folder``."""
    base = Path(folder)
    path = base.joinpath(*(safe_name(n) for n in names))
    if os.path.commonpath([os.path.abspath(base), os.path.abspath(path)]) != os.path.abspath(base):
        raise ProvenanceError(f"output name {names!r} would leave {base}")
    return path


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb", perms: int = 0o644, encoding: str | None = None):
    """A file object for writing ``path``: a fresh, exclusively created temporary file beside it, renamed over
    ``path`` at the end of the block (or removed when the block raises)."""
    path = Path(path)
    folder = path.parent
    tmp = folder / f".{safe_name(path.name, 60)}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, _FLAGS, perms)
    try:
        f = os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None)
    except BaseException:
        os.close(fd)
        _unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, perms: int = 0o644) -> None:
    with atomic_output(path, "wb", perms) as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str, perms: int = 0o644) -> None:
    with atomic_output(path, "w", perms, encoding="utf-8") as f:
        f.write(text)


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh, exclusively created (empty) temporary file beside ``path``, for writers that need a path
    (pyarrow, DuckDB COPY): the caller writes it, then ``os.replace(tmp, path)``, and unlinks it on failure."""
    path = Path(path)
    tmp = path.parent / f".{safe_name(path.name, 60)}.{secrets.token_hex(8)}.tmp"
    os.close(os.open(tmp, _FLAGS, 0o644))
    return tmp


def _unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
