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
    with pytest.raises(OSError, match="blocked"):
        socket.gethostbyname("pypi.org")
    with pytest.raises(OSError, match="blocked"):
        socket.gethostbyname_ex("pypi.org")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="blocked"):
        udp.sendto(b"x", ("8.8.8.8", 53))


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


def test_a_distributions_own_sitecustomize_still_runs(tmp_path):
    """Ours comes first on PYTHONPATH; it must run the next sitecustomize on the path instead of hiding it."""
    (tmp_path / "sitecustomize.py").write_text("import builtins\nbuiltins.OTHER_SITECUSTOMIZE_RAN = True\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], str(tmp_path)])}
    code = "import builtins; print(getattr(builtins, 'OTHER_SITECUSTOMIZE_RAN', False))\n" + ATTEMPT
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "blocked"]
