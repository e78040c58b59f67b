"""Listening sockets are opened before the daemon starts anything, and a port that cannot be
opened is said once, naming the option that chose it; test ports come from below the kernel's
ephemeral range, where no outgoing connection can take them."""

from __future__ import annotations

import socket

import pytest

from sandbox.ports import _ephemeral_start, free_port_block
from sync_jobs.app.listening import PortUnavailable, listening_socket


def test_a_free_port_is_bound_and_listening() -> None:
    port = free_port_block(1)
    with (
        listening_socket("127.0.0.1", port, "--health-port") as server,
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        accepted, _ = server.accept()
        accepted.close()


def test_a_port_in_use_names_the_option_and_what_to_do() -> None:
    port = free_port_block(1)
    with (
        listening_socket("127.0.0.1", port, "--web-port"),
        pytest.raises(PortUnavailable) as refused,
    ):
        listening_socket("127.0.0.1", port, "--web-port")
    message = str(refused.value)
    assert message.startswith(f"--web-port: cannot listen on 127.0.0.1:{port}: ")
    assert "choose another port with --web-port" in message


def test_an_address_that_does_not_resolve_is_refused_with_the_option() -> None:
    with pytest.raises(PortUnavailable, match=r"--health-port: .*does not resolve"):
        listening_socket("no-such-host.invalid", 8080, "--health-port")


def test_test_ports_are_consecutive_free_and_below_the_ephemeral_range() -> None:
    first = free_port_block(4)
    assert first + 4 <= _ephemeral_start()
    for port in range(first, first + 4):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
