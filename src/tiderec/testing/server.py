"""Start `tiderec serve` as a child process on 127.0.0.1 and wait until it is ready (for tests and the load
benchmark, which both need a real server process)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

TIDEREC = str(Path(sys.executable).with_name("tiderec"))
"""The `tiderec` command of the running interpreter's environment."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(args: Sequence[str], port: int, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """`tiderec serve ARGS --port PORT`, returned once /readyz answers 200; killed and RuntimeError after
    `timeout` seconds without that."""
    proc = subprocess.Popen(
        [TIDEREC, "serve", *args, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"tiderec serve {' '.join(args)} was not ready within {timeout:.0f} s")
