"""The test suite runs offline: outbound connections fail here and in child processes (notebook kernels)."""

import os
import socket
import subprocess
import sys

import pytest

ATTEMPT = """
import socket
try:
    socket.create_connection(("93.184.215.14", 80), timeout=2)
except OSError as exc:
    print("blocked" if "blocked" in str(exc) else f"other: {exc}")
else:
    print("connected")
"""


def test_outbound_connections_are_blocked_in_process():
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("93.184.215.14", 80), timeout=2)
    with pytest.raises(OSError, match="blocked"):
        socket.getaddrinfo("pypi.org", 443)


def test_outbound_connections_are_blocked_in_child_processes():
    assert os.environ["EMBEDKIT_OFFLINE"] == "1"
    out = subprocess.run([sys.executable, "-c", ATTEMPT], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "blocked"


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = socket.create_connection(server.getsockname(), timeout=2)
        client.close()
    finally:
        server.close()
