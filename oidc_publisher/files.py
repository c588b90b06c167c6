"""Writing files safely: atomically, with the right mode, and never over something by accident."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from oidc_publisher.core.errors import InputError


def ensure_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} exists and is not a directory", "give --out-dir a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create directory {path} ({exc.strerror})", "check the path and permissions") from None


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write {path} ({exc.strerror})", "check the path and permissions") from None


def write_new(path: Path, data: bytes, *, mode: int, force: bool) -> None:
    """Create ``path`` with ``mode`` from the start (no window where a secret is world-readable).

    Refuses to replace an existing file unless ``force``; with ``force`` the old file is replaced
    atomically.
    """
    if force:
        write_atomic(path, data, mode=mode)
        return
    ensure_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise InputError(f"{path} already exists", "refusing to overwrite a key; use --force to replace it") from None
    except OSError as exc:
        raise InputError(f"cannot create {path} ({exc.strerror})", "check the path and permissions") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)  # the umask may have narrowed it; never widened
