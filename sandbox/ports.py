"""Free loopback ports for the simulators, the benchmarks and the tests.

A port is chosen below the kernel's ephemeral range. A port the kernel hands out for
``bind(0)`` comes from that range, and so does the local port of every outgoing connection
(to PostgreSQL, to a simulator): a port seen free there may be taken by a connection a moment
later, and the server meant for it then cannot listen. Below the range only another listener
can take it.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

LOWEST = 20_000
"""The lowest port chosen (well above the ports services keep for themselves)."""
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
EPHEMERAL_START = 32_768
"""Linux's default start of the ephemeral range, when the kernel does not say."""


def free_port() -> int:
    """A loopback port free now, below the ephemeral range."""
    return free_port_block(1)


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive loopback ports free now (each bound, then
    released), below the ephemeral range."""
    highest = _ephemeral_start() - count
    for _ in range(200):
        first = random.randint(LOWEST, highest)
        with ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {count} consecutive free loopback ports in {LOWEST}-{highest}")


def _ephemeral_start() -> int:
    try:
        start = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_START
    return start if start > LOWEST + 1_000 else EPHEMERAL_START
