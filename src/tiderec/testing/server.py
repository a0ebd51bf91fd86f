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


def start_server(
    args: Sequence[str], port: int, timeout: float = 120.0, prefix: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`tiderec serve ARGS --port PORT`, returned once /readyz answers 200 (with several workers, the port takes
    connections once every worker has loaded); killed and RuntimeError after `timeout` seconds without that. A
    previous server's processes still draining on the port are waited for first (their answers would pass for the
    new server's). `prefix` is a command that runs the server (it must end by exec'ing its arguments, so that the
    process returned is the server's)."""
    deadline = time.monotonic() + timeout
    while listeners(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc = subprocess.Popen(
        [*prefix, TIDEREC, "serve", *args, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"tiderec serve {' '.join(args)} was not ready within {timeout:.0f} s")


def listeners(port: int) -> int:
    """How many TCP sockets listen on `port` (Linux: /proc/net/tcp and tcp6, state 0A)."""
    count = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.is_file():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count
