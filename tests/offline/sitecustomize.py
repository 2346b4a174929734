"""Block outbound network in every Python process started during the tests.

`conftest.py` puts this folder on ``PYTHONPATH`` and sets ``EMBEDKIT_OFFLINE=1``,
so the pytest process and every notebook kernel nbval starts import this module
at start-up. Connections to loopback stay allowed (Jupyter kernels talk to
pytest over 127.0.0.1); anything else raises, so a chapter cannot silently
download data.
"""

import errno
import ipaddress
import os
import socket

if os.environ.get("EMBEDKIT_OFFLINE") == "1":
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def _local(host) -> bool:
        if isinstance(host, bytes):
            host = host.decode()
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            raise OSError(errno.ENETUNREACH, f"network access is blocked in the tests (EMBEDKIT_OFFLINE=1): {address!r}")

    def connect(self, address):
        _check(self, address)
        return _connect(self, address)

    def connect_ex(self, address):
        _check(self, address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup is blocked in the tests (EMBEDKIT_OFFLINE=1): {host!r}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
