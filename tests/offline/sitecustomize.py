"""Block outbound network in every Python process started during the tests.

`conftest.py` puts this folder on ``PYTHONPATH`` and sets ``EMBEDKIT_OFFLINE=1``,
so the pytest process and every notebook kernel nbval starts import this module
at start-up. Connections to loopback stay allowed (Jupyter kernels talk to
pytest over 127.0.0.1); anything else raises, so a chapter cannot silently
download data. Name lookups (``getaddrinfo``, ``gethostbyname``,
``gethostbyname_ex``) and datagrams (``sendto``) are blocked too.

Python imports only the first ``sitecustomize`` on its path, so this one then
runs the next one it finds (a distribution's own), which it would otherwise hide.
"""

import errno
import ipaddress
import os
import socket

if os.environ.get("EMBEDKIT_OFFLINE") == "1":
    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo, _gethostbyname, _gethostbyname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex

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

    def sendto(self, data, *args):
        _check(self, args[-1])
        return _sendto(self, data, *args)

    def _lookup(function):
        def blocked(host, *args, **kwargs):
            if not _local(host):
                raise socket.gaierror(socket.EAI_NONAME,
                                      f"name lookup is blocked in the tests (EMBEDKIT_OFFLINE=1): {host!r}")
            return function(host, *args, **kwargs)
        return blocked

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = _lookup(_getaddrinfo)
    socket.gethostbyname, socket.gethostbyname_ex = _lookup(_gethostbyname), _lookup(_gethostbyname_ex)


def _run_the_next_sitecustomize() -> None:
    import importlib.util
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(entry or os.getcwd(), "sitecustomize.py")
        if os.path.abspath(entry or os.getcwd()) != here and os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_next_sitecustomize", candidate)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


if __name__ == "sitecustomize":  # imported by `site` at start-up, not loaded by conftest.py
    _run_the_next_sitecustomize()
