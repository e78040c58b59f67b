"""Shared test pieces: a realistic alert, and a real HTTP receiver on 127.0.0.1.

The receiver is a Starlette app served by uvicorn in a background thread, so channels are
tested over a real socket (status lines, headers, timeouts, refused connections), not a mock.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.errors import RateLimited
from sync_jobs.alerts.base import Alert, Phase

ACME_EDIT = Alert(
    key="conflict:12:v1:opened",
    kind="target_edited",
    severity="warning",
    title="Agent edit held: Acme Corporation / special_discount",
    summary=(
        "An agent changed the special discount on Acme Corporation's record after dealbridge "
        "last wrote it. The deal's new value is held until someone decides which one is right."
    ),
    action="dealbridge conflicts show 12",
    customer="Acme Corporation",
    deal="Acme renewal 2026",
    territory="west",
    job="west-to-zendesk",
    facts=(
        ("last written by dealbridge", "10%"),
        ("value on the record", "12%"),
        ("value the deal wants", "15%"),
    ),
    link="https://dealbridge.example.com/conflicts/12",
    recipients=("owner@example.com",),
    extra={"thread": "conflict:12"},
)


def follow_up(alert: Alert, phase: Phase, **changes: Any) -> Alert:
    """The same conflict's next message, keyed and titled the way content.py does it."""
    prefix = {"opened": "", "updated": "Update: ", "closed": "Resolved: "}[phase]
    return replace(
        alert,
        key=alert.key.rsplit(":", 1)[0] + f":{phase}",
        phase=phase,
        title=prefix + alert.title,
        **changes,
    )


@dataclass(frozen=True)
class Recorded:
    """One request the receiver got."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What the receiver answers next."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    media_type: str = "text/plain"


class Receiver:
    """Records every request and answers with queued replies (default ``200 ok``)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.port = 0
        self._replies: deque[Reply] = deque()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "PUT"])])

    def reset(self) -> None:
        """Forget requests and queued replies (between tests)."""
        self.requests.clear()
        self._replies.clear()

    def reply(self, *replies: Reply) -> None:
        """Queue answers for the next requests, in order."""
        self._replies.extend(replies)

    def url(self, path: str) -> str:
        """The address of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        reply = self._replies.popleft() if self._replies else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Response(
            reply.body,
            status_code=reply.status,
            headers=reply.headers,
            media_type=reply.media_type,
        )


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    """Run ``receiver`` with uvicorn on a free 127.0.0.1 port in a daemon thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    config = uvicorn.Config(
        receiver.app, log_level="warning", lifespan="off", access_log=False, ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test receiver did not start")
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def retry_after(error: BaseException) -> float | None:
    """The wait a throttled receiver asked for (None: it did not say, or it was no throttle)."""
    return error.retry_after if isinstance(error, RateLimited) else None
