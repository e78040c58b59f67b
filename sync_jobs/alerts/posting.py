"""One HTTP request per delivery, and every way it can fail sorted into retry or park.

Channels send once: retries, backoff and dead-lettering belong to the outbox. This module is
the only place the HTTP channels catch ``httpx`` errors, and it answers one question for the
outbox: may this be retried (``permanent=False``, with ``retry_after`` when the receiver said
how long to wait) or must a person fix something first (``permanent=True``)?

    network error, timeout, 408, 429, 5xx   -> transient (429/503 carry Retry-After)
    3xx                                     -> permanent: the URL moved, fix the config
    other 4xx                               -> permanent: bad URL, revoked token, gone

Webhook URLs of Slack and Teams are credentials, so nothing here logs a URL: logs carry the
host only, and :func:`register_url_secret` makes :func:`connectors.redact.redact` remove
the secret parts from any text that might quote them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.ratelimit import parse_retry_after
from connectors.redact import redact, register_secret
from sync_jobs.alerts.base import DeliveryError

_MIN_SECRET_PART = 8


def register_url_secret(url: str) -> None:
    """Treat the whole URL, its path and its query as secrets (Slack token, Teams ``sig``)."""
    register_secret(url)
    parts = httpx.URL(url)
    for part in (parts.path, parts.query.decode("ascii", "replace")):
        if len(part) >= _MIN_SECRET_PART:
            register_secret(part)


def make_client(
    *,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    auth: httpx.Auth | None = None,
    base_url: str = "",
) -> httpx.AsyncClient:
    """A client that never follows redirects (a moved webhook is a config error to report)."""
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        follow_redirects=False,
    )


async def send_once(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    channel: str,
    json_body: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send one request; a network failure becomes a transient ``DeliveryError``."""
    try:
        return await client.request(method, url, json=json_body, content=content, headers=headers)
    except httpx.UnsupportedProtocol as exc:
        raise DeliveryError(
            f"{channel}: the configured URL is not http(s); fix it in config.yaml", permanent=True
        ) from exc
    except httpx.TimeoutException as exc:
        raise DeliveryError(
            f"{channel}: no answer in time ({type(exc).__name__}); will retry", permanent=False
        ) from exc
    except httpx.TransportError as exc:
        detail = redact(str(exc)) or type(exc).__name__
        raise DeliveryError(
            f"{channel}: could not reach the receiver ({detail}); will retry", permanent=False
        ) from exc


def is_transient(status: int) -> bool:
    """Statuses worth retrying: throttled, timed out on the receiver's side, or a server error."""
    return status in (408, 429) or status >= 500


def refused(channel: str, response: httpx.Response, reason: str) -> DeliveryError:
    """The ``DeliveryError`` for a non-success answer, with Retry-After when one was sent."""
    status = response.status_code
    if 300 <= status < 400:
        return DeliveryError(
            f"{channel}: HTTP {status}: the receiver redirects; configure its final URL",
            permanent=True,
        )
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    transient = is_transient(status)
    return DeliveryError(
        f"{channel}: HTTP {status}: {reason}",
        permanent=not transient,
        retry_after=retry_after if transient else None,
    )


def body_text(response: httpx.Response, limit: int = 200) -> str:
    """The response body on one line, cut and redacted, for error messages."""
    try:
        text = " ".join(response.text.split())
    except UnicodeDecodeError:
        return "<undecodable body>"
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return redact(cut)
