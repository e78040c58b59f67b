"""The one HTTP building block every connector composes.

``VendorClient`` wraps an ``httpx.AsyncClient`` with: auth (an ``httpx.Auth`` flow), timeouts,
a :class:`~connectors.ratelimit.VendorGate` fed by the vendor's limit headers, tenacity retries
(exponential backoff with jitter, Retry-After honoured, non-idempotent calls retried only when
the request never reached the vendor), typed errors, and structlog events with secrets removed.
This is the only module that catches ``httpx`` exceptions.

A vendor module supplies two small functions: ``classify`` (response -> typed error or None)
and ``read_limits`` (response -> :class:`LimitSignal`).
"""

from __future__ import annotations

import functools
import os
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any, Protocol

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from connectors.jsonbody import decode_json
from connectors.ratelimit import LimitSignal, Sleep, VendorGate, parse_retry_after
from connectors.redact import redact
from connectors.responses import header_int
from connectors.settings import ConnectorConfig, ConnectorOptions
from connectors.waits import announce_wait

log = structlog.get_logger("dealbridge.http")

Classifier = Callable[[httpx.Response], ConnectorError | None]
LimitReader = Callable[[httpx.Response], LimitSignal]


class Paced(Protocol):
    """A connector's pacing as its client needs it: the gate and what retries sleep with
    (None: tenacity's own asyncio sleep)."""

    @property
    def gate(self) -> VendorGate: ...

    @property
    def retry_sleep(self) -> Sleep | None: ...


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def default_limits(response: httpx.Response) -> LimitSignal:
    """Read the common headers: Retry-After on 429/503, and X-RateLimit-* style budgets."""
    headers = response.headers
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(headers.get("retry-after"))
    remaining = _int_header(
        headers, "x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining"
    )
    limit = _int_header(headers, "x-ratelimit-limit", "x-rate-limit", "ratelimit-limit")
    reset = _int_header(headers, "x-ratelimit-reset", "ratelimit-reset")
    return LimitSignal(
        limit=limit,
        remaining=remaining,
        reset_after=float(reset) if reset is not None else None,
        retry_after=retry_after,
    )


def _int_header(headers: httpx.Headers, *names: str) -> int | None:
    """The first of ``names`` that holds a number."""
    for name in names:
        number = header_int(headers.get(name))
        if number is not None:
            return number
    return None


def default_classify(response: httpx.Response) -> ConnectorError | None:
    """Map HTTP statuses to the error tree when the vendor module has no more specific answer."""
    status = response.status_code
    if status < 400:
        return None
    text = short_body(response)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return error_for_status(status, f"rate limited: {text}", retry_after=retry_after)
    words = "access refused" if status in (401, 403) else "request rejected"
    if is_transient_status(status):
        words = "vendor error"
    return error_for_status(status, f"{words}: {text}")


def is_transient_status(status: int) -> bool:
    """Statuses worth trying again: timed out or throttled on the vendor's side, or a 5xx."""
    return status in (408, 429) or status >= 500


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None
) -> ConnectorError:
    """The error a refused request's status calls for, in the caller's words: a redirect means
    the configured URL is wrong (an admin fixes it), 401/403 refused credentials, 408/429/5xx a
    pause (``retry_after`` seconds when the vendor said; a 429 is always ``RateLimited``), any
    other 4xx a request retrying cannot fix."""
    if 300 <= status < 400:
        return PermanentError(message, who_acts="admin", status=status)
    if is_transient_status(status):
        if status == 429 or retry_after is not None:
            return RateLimited(message, retry_after=retry_after, status=status)
        return TransientError(message, status=status)
    if status in (401, 403):
        return AuthError(message, status=status)
    return PermanentError(message, status=status)


def verified_tls() -> ssl.SSLContext:
    """httpx's default TLS verification (certifi's roots, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set), made once per process for every client.

    Each ``httpx.AsyncClient`` otherwise loads the whole CA bundle into a context of its own
    (about 20 ms of CPU, for every connector client of every run, ``http://`` URLs too). One
    context serves them all: every client here speaks HTTP/1.1, so httpcore sets the same ALPN
    list on it at each connect."""
    return _tls_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _tls_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # The variables are the cache key only: httpx reads them itself, so the context is
    # exactly the one it would have made (a process that changes them gets a new one).
    del cert_file, cert_dir
    return httpx.create_ssl_context()


def plain_client(
    timeout: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client for posting to a configured URL (alert webhooks): it never follows redirects,
    so a moved endpoint is reported as a config error instead of followed blindly."""
    return httpx.AsyncClient(
        transport=transport,
        verify=verified_tls() if transport is None else True,
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        follow_redirects=False,
    )


async def send_once(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL | str,
    *,
    connector: str,
    operation: str,
    **request: Any,
) -> httpx.Response:
    """Send one request; a request that got no answer becomes a typed error. This is the only
    place ``httpx`` exceptions are caught: vendor clients and alert channels send through it.

    A read timeout or a dropped connection may have reached the vendor, so only a connect
    failure carries the "never sent" mark (``status=None``) that makes a POST safe to repeat.
    """
    try:
        return await client.request(method, url, **request)
    except httpx.UnsupportedProtocol as exc:
        raise PermanentError(
            "the configured URL is not http(s); fix it in config.yaml",
            who_acts="admin",
            connector=connector,
            operation=operation,
        ) from exc
    except httpx.TransportError as exc:
        if isinstance(exc, httpx.TimeoutException):
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            message = f"timed out: no answer in time ({type(exc).__name__})"
        else:
            sent = not isinstance(exc, httpx.ConnectError)
            detail = redact(str(exc)) or type(exc).__name__
            message = f"network error: could not reach the vendor ({detail})"
        raise TransientError(
            message, connector=connector, operation=operation, status=0 if sent else None
        ) from exc


def short_body(response: httpx.Response, limit: int = 300) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "<unreadable body>"
    text = " ".join(text.split())
    return redact(text[:limit] + ("..." if len(text) > limit else ""))


class SetCookieStore(httpx.Cookies):
    """httpx's cookie store, which reads a response only when it sets a cookie.

    ``http.cookiejar`` takes cookies from ``Set-Cookie`` and ``Set-Cookie2`` alone and does
    nothing with any other response, but httpx hands it every response wrapped in urllib's
    request and message objects first (about 25 us a request: the URL parsed again, every
    header copied). Cookies a vendor does set (a load balancer's, a session's) are kept and
    sent back exactly as before."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


CookieSource = httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
"""What ``httpx.AsyncClient(cookies=...)`` accepts."""


class CookieClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose ``cookies`` are a :class:`SetCookieStore` (httpx reads and
    fills the client's store through this public property)."""

    def __init__(self, *, cookies: CookieSource | None = None, **kwargs: Any) -> None:
        self._store = SetCookieStore(cookies)
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._store

    @cookies.setter
    def cookies(self, cookies: CookieSource) -> None:
        self._store = SetCookieStore(cookies)


@dataclass
class RequestStats:
    """Counts for metrics and benchmarks: requests by method and status, and retries."""

    by_method: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0
    reads_by_post: int = 0
    """Requests sent with a changing method that the connector declared change nothing
    (searches and token requests sent as POST)."""

    @property
    def total(self) -> int:
        """Every request sent, retries included."""
        return sum(self.by_method.values())

    @property
    def writes(self) -> int:
        """Requests that may change vendor data."""
        changing = sum(n for m, n in self.by_method.items() if m not in ("GET", "HEAD"))
        return changing - self.reads_by_post


MAX_ENDPOINTS = 256
"""Resolved URLs a client keeps (a connector calls a dozen endpoints; paths naming one record
each come and go)."""

ALL_STATS: dict[str, RequestStats] = {}
"""Process-wide, ever-growing request counts per connector instance name, for metrics."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, a total time budget, and the backoff range."""

    attempts: int = 5
    max_delay: float = 120.0
    backoff_min: float = 0.5
    backoff_max: float = 30.0


class VendorClient:
    """An ``httpx.AsyncClient`` that paces, retries and classifies for one connector instance."""

    def __init__(  # noqa: PLR0913 - the client's seams are exactly these
        self,
        *,
        connector: str,
        base_url: str,
        auth: httpx.Auth | None = None,
        classify: Classifier | None = None,
        read_limits: LimitReader = default_limits,
        gate: VendorGate | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.connector = connector
        self.gate = gate or VendorGate()
        self.gate.name = self.gate.name or connector
        self.stats = RequestStats()
        self._totals = ALL_STATS.setdefault(connector, RequestStats())
        self._classify = classify
        self._read_limits = read_limits
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = CookieClient(
            base_url=base_url,
            auth=auth,
            transport=transport,
            verify=verified_tls() if transport is None else True,  # unused beside a transport
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            headers=dict(headers or {}),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self._endpoints: dict[str, httpx.URL] = {}
        """Paths resolved against the base URL, by the path as the connector gave it."""

    @classmethod
    def for_json_api(  # noqa: PLR0913 - a connector's seams, named once
        cls,
        name: str,
        config: ConnectorConfig,
        options: ConnectorOptions,
        pacing: Paced,
        *,
        auth: httpx.Auth | None,
        classify: Classifier,
        read_limits: LimitReader = default_limits,
        headers: Mapping[str, str] | None = None,
    ) -> VendorClient:
        """A client for a JSON API set up the usual way: the config's ``base_url`` and
        ``timeout``, the run's transport, the connector's gate and retry sleep."""
        return cls(
            connector=name,
            base_url=config.base_url,
            auth=auth,
            classify=classify,
            read_limits=read_limits,
            gate=pacing.gate,
            transport=options.transport,
            timeout=config.timeout,
            headers={"Accept": "application/json", **(headers or {})},
            sleep=pacing.retry_sleep,
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def request(  # noqa: PLR0913 - mirrors httpx's request signature
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        changes: bool | None = None,
        query: str | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send with pacing and retries; return a 2xx/3xx response or raise a typed error.

        ``changes=False`` declares that a POST (a search, a token request) changes no vendor
        data, so it is not counted among the writes (default: any method but GET and HEAD).
        ``query``: the URL's query as the text to send, instead of ``params`` for httpx to
        encode (httpx builds a URL from text in about 0.13 ms for 100 ids, from ``params``
        in 0.3 ms: it percent-encodes each comma, then quotes each id apart). ``content``: a
        body already encoded (its headers given by the caller), instead of ``json`` for httpx
        to encode."""
        may_repeat = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent

        def retryable(exc: BaseException) -> bool:
            if not isinstance(exc, TransientError):
                return False
            # A throttled or never-sent request did not take effect: safe to send again.
            return may_repeat or isinstance(exc, RateLimited) or exc.status is None

        def send() -> Awaitable[httpx.Response]:
            return self._send_once(
                method,
                url,
                operation=operation,
                params=params,
                json=json,
                data=data,
                headers=headers,
                changes=changes,
                query=query,
                content=content,
            )

        started = time.monotonic()
        try:
            return await send()  # most requests: no retry policy set up at all
        except TransientError as exc:
            if not retryable(exc):
                raise
            failed = exc
        return await self._retry_after(failed, send, retryable, started)

    async def _retry_after(
        self,
        failed: TransientError,
        send: Callable[[], Awaitable[httpx.Response]],
        retryable: Callable[[BaseException], bool],
        started: float,
    ) -> httpx.Response:
        """Tenacity's retries of a request whose first attempt ``failed`` worth retrying: that
        failure is tenacity's attempt 1 (its number, its wait, its log), and the time budget
        counts from ``started``, the first send, exactly as if tenacity had sent it."""

        attempts_spent = stop_after_attempt(self._retry.attempts)

        def stop(state: RetryCallState) -> bool:
            # with tenacity's stop_after_delay, timed from the first send instead of from here
            finished = state.outcome_timestamp
            spent = finished is not None and finished - started >= self._retry.max_delay
            return attempts_spent(state) or spent

        kwargs: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            stop=stop,
            wait=self._wait,
            before_sleep=self._count_retry,
            reraise=True,
            **kwargs,
        )
        first: TransientError | None = failed
        async for attempt in retrying:
            with attempt:
                if first is not None:
                    error, first = first, None
                    raise error
                return await send()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def get_json(
        self, url: str, *, operation: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """GET and decode JSON, turning a malformed body into a TransientError."""
        response = await self.request("GET", url, operation=operation, params=params)
        return self.decode(response, operation)

    def decode(self, response: httpx.Response, operation: str) -> Any:
        """Decode a JSON body or say clearly that the vendor sent something else."""
        try:
            return decode_json(response.content)
        except ValueError as exc:
            raise TransientError(
                f"expected JSON, got {response.headers.get('content-type', 'no content type')}: "
                f"{short_body(response, 120)}",
                connector=self.connector,
                operation=operation,
                status=response.status_code,
            ) from exc

    def decode_object(
        self, response: httpx.Response, operation: str, vendor: str
    ) -> dict[str, Any]:
        """Decode a JSON object; any other JSON is a :class:`PermanentError` naming what
        ``vendor`` sent instead (a list, a string: an API that is not the one expected)."""
        body = self.decode(response, operation)
        if not isinstance(body, dict):
            raise PermanentError(
                f"{vendor} answered {type(body).__name__} where an object was expected",
                connector=self.connector,
                operation=operation,
            )
        return body

    def _wait(self, state: RetryCallState) -> float:
        fallback = wait_random_exponential(
            multiplier=self._retry.backoff_min, max=self._retry.backoff_max
        )(state)
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return max(exc.retry_after, self.gate.blocked_for)
        return max(fallback, self.gate.blocked_for)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if state.next_action is not None:
            announce_wait(self.connector, state.next_action.sleep)
        log.warning(
            "vendor_retry",
            connector=self.connector,
            attempt=state.attempt_number,
            error=redact(str(exc)),
        )

    async def _send_once(  # noqa: PLR0913 - request's arguments, passed on
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        changes: bool | None = None,
        query: str | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        await self.gate.acquire()
        started = time.monotonic()
        try:
            target = self._endpoint(url)
            if query is not None:
                target = httpx.URL(target).copy_with(query=query.encode("utf-8"))
            response = await send_once(
                self._client,
                method,
                target,
                connector=self.connector,
                operation=operation,
                params=params,
                json=json,
                data=data,
                headers=headers,
                **({} if content is None else {"content": content}),
            )
        finally:
            self.gate.release()
        self._account(method, response, operation, time.monotonic() - started)
        if changes is False and method.upper() not in ("GET", "HEAD"):
            self.stats.reads_by_post += 1
            self._totals.reads_by_post += 1
        error = (self._classify(response) if self._classify else None) or default_classify(response)
        if error is not None:
            error.connector = error.connector or self.connector
            error.operation = error.operation or operation
            if isinstance(error, RateLimited):
                self.stats.throttled += 1
                self._totals.throttled += 1
                if error.retry_after is not None:
                    self.gate.block_for(error.retry_after)
            raise error
        return response

    def _endpoint(self, url: str) -> httpx.URL | str:
        """``url`` as httpx resolves it against the base URL, worked out once per endpoint.

        httpx parses a string URL twice a request to join it to the base URL (~20 us, its
        every character checked in Python); a resolved ``httpx.URL`` it takes as it is. URLs
        with a query (next-page links, each one different) are left to httpx."""
        if "?" in url:
            return url
        resolved = self._endpoints.get(url)
        if resolved is None:
            if len(self._endpoints) >= MAX_ENDPOINTS:
                self._endpoints.clear()  # record ids in paths: keep the memory bounded
            resolved = self._endpoints[url] = self._client.build_request("GET", url).url
        return resolved

    def _account(
        self, method: str, response: httpx.Response, operation: str, elapsed: float
    ) -> None:
        for stats in (self.stats, self._totals):
            stats.by_method[method.upper()] += 1
            stats.by_status[response.status_code] += 1
        self.gate.observe(self._read_limits(response))
        log.debug(
            "vendor_request",
            connector=self.connector,
            operation=operation,
            method=method.upper(),
            path=redact(response.request.url.path),
            status=response.status_code,
            ms=round(elapsed * 1000, 1),
        )
