"""The daemon's and the console's listening sockets, opened before anything else starts.

uvicorn opens its port only once it is serving, and when the port cannot be opened it calls
``sys.exit(3)`` from inside its task: in the daemon that ended the whole process a moment after
it had started (its scheduler already running), with nothing but uvicorn's one-line log to say
why, and with the exit code the daemon gives for "a second daemon on this SQLite file". Opening
the socket first, and handing it to uvicorn, makes a port in use a startup problem like any
other: said once, naming the option to change, before any job runs.
"""

from __future__ import annotations

import socket

BACKLOG = 2048
"""Connections the kernel queues before accepting (uvicorn's own default)."""


class PortUnavailable(Exception):
    """A host and port that cannot be listened on; the message names the option to change."""


def listening_socket(host: str, port: int, option: str) -> socket.socket:
    """A socket bound to ``host``:``port`` and listening, or :class:`PortUnavailable`.

    ``option`` is the command-line option that chose the port (``--health-port``), named in
    the message so the operator knows what to change."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        raise PortUnavailable(
            f"{option}: cannot listen on {host}:{port}: the address does not resolve ({exc}); "
            "give an IP address or a host name of this machine"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        # A port left in TIME_WAIT by the previous daemon (a restart) may be taken at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise PortUnavailable(
            f"{option}: cannot listen on {host}:{port}: {exc.strerror or exc}; "
            f"choose another port with {option}, or stop the process listening there"
        ) from None
    return sock
