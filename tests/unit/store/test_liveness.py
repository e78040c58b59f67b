"""Whether a lease holder's process still lives: asked of the kernel on the same host only."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sync_jobs.store.liveness import ProcessId, is_alive, start_time, this_process

linux_only = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads /proc (Linux)")


def child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_this_process_is_alive() -> None:
    assert is_alive(this_process()) is True


@linux_only
def test_a_process_that_ended_is_dead() -> None:
    proc = child()
    holder = replace(this_process(), pid=proc.pid, started=start_time(proc.pid))
    assert is_alive(holder) is True
    proc.kill()
    proc.wait()
    assert is_alive(holder) is False


@linux_only
def test_a_killed_process_not_yet_reaped_is_dead() -> None:
    proc = child()
    holder = replace(this_process(), pid=proc.pid, started=start_time(proc.pid))
    proc.kill()  # a zombie until its parent (this test) waits for it
    try:
        deadline = time.monotonic() + 5  # the signal is delivered asynchronously
        while is_alive(holder) and time.monotonic() < deadline:
            time.sleep(0.01)
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "Z", "the premise: killed, not yet reaped"
        assert is_alive(holder) is False
    finally:
        proc.wait()


@linux_only
def test_a_reused_pid_is_not_mistaken_for_the_holder() -> None:
    me = this_process()
    assert me.started is not None
    earlier = replace(me, started=str(int(me.started) - 1))  # same pid, another process
    assert is_alive(earlier) is False


def test_a_holder_on_another_host_cannot_be_judged() -> None:
    elsewhere = ProcessId("other-host", "other-host/boot/pid:[1]", 1, "1")
    assert is_alive(elsewhere) is None


@linux_only
def test_the_host_key_separates_boots_and_pid_namespaces() -> None:
    key = this_process().host_key
    assert key.count("/") >= 2, "host name, boot id and pid namespace"
    assert "pid:[" in key
