"""Running the tool with one of its streams on a pseudo-terminal, as an interactive shell does."""

from __future__ import annotations

import os
import pty
import subprocess
import sys


def on_a_terminal(*args: str, stream: str = "stdout", env: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, what the tool wrote to ``stream``, 'stdout' or 'stderr', which is a terminal here); the
    other stream is a pipe (stderr) or discarded."""
    master, slave = pty.openpty()
    streams = {"stdout": slave, "stderr": subprocess.DEVNULL} if stream == "stdout" else {"stdout": subprocess.PIPE, "stderr": slave}
    proc = subprocess.Popen([sys.executable, "-m", "oidc_publisher", *args], env={**os.environ, **(env or {})}, **streams)  # type: ignore[call-overload]
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    if proc.stdout is not None:
        proc.stdout.read()
    return proc.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")
