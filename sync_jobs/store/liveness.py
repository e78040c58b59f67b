"""Who holds a lease, and whether that process still lives: so a dead holder is noticed at once.

A lease records the holder's host, pid and process start time. A process on the same host (same
kernel boot and pid namespace, so pids mean the same process) asks the kernel: the pid is gone,
a zombie, or now belongs to a process that started at another time (pid reuse) -> the holder
died. A holder on another host cannot be asked; it is trusted until its lease lapses.

Linux only reads ``/proc`` (``/proc/<pid>/stat`` field 22 is the start time in clock ticks since
boot, ``/proc/sys/kernel/random/boot_id`` the boot, ``/proc/self/ns/pid`` the pid namespace;
proc(5)). Elsewhere the start time is unknown and only the pid is checked, which psutil could
do better on macOS and Windows; dealbridge runs on Linux servers and containers, so no new
dependency for that.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessId:
    """One process, identified well enough to tell later whether it still runs."""

    host: str
    """The host name, for people."""
    host_key: str
    """Host name, boot and pid namespace: pids are comparable only between equal keys."""
    pid: int
    started: str | None
    """Start time in clock ticks since boot (None where /proc is not available)."""


@cache
def this_process() -> ProcessId:
    """This process (computed once: none of it changes while it runs)."""
    pid = os.getpid()
    return ProcessId(socket.gethostname(), _host_key(), pid, start_time(pid))


def _host_key() -> str:
    parts = [socket.gethostname()]
    try:
        parts.append((PROC / "sys/kernel/random/boot_id").read_text().strip())
        parts.append(str((PROC / "self/ns/pid").readlink()))
    except OSError:
        pass  # not Linux: the host name alone
    return "/".join(parts)[:200]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (the command name, field 2, may hold spaces and ')')."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot; None if unknown or not running."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None  # field 22


def is_alive(holder: ProcessId) -> bool | None:
    """Whether ``holder`` still runs: True, False, or None when it is on another host."""
    if holder.host_key != this_process().host_key:
        return None
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    fields = _stat_fields(holder.pid)
    if fields is None:
        return not PROC.is_dir()  # /proc exists but not this pid: it just ended
    if fields[0] in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    return holder.started is None or (len(fields) > 19 and fields[19] == holder.started)
