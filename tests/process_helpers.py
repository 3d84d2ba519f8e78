"""Child processes in tests: Ctrl-C them, never leak them, check their port is closed again."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
from typing import Iterator

import pytest


@contextlib.contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``proc``, killed and reaped if the block leaves it running (a failed assertion, a timeout)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def ctrl_c(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """SIGINT, as a terminal's Ctrl-C, then the rest of the child's stdout and stderr."""
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=timeout)


def assert_port_closed(port: int) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
