"""The shared HTTP client: pacing, retries, Retry-After, idempotency, typed errors, redaction."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.auth import StaticHeaderAuth, TokenAuth
from connectors.errors import AuthError, PermanentError, RateLimited, TransientError
from connectors.http import RetryPolicy, VendorClient, plain_client, verified_tls
from connectors.ratelimit import LimitSignal, VendorGate, Window, parse_retry_after

pytestmark = pytest.mark.anyio
BASE = "https://vendor.example"


class Sleeps:
    """A fake clock: sleeping records the request and moves time on, instantly."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def client(sleeps: Sleeps, **kw: object) -> VendorClient:
    gate = VendorGate(sleep=sleeps, clock=sleeps.clock)
    return VendorClient(
        connector="acme",
        base_url=BASE,
        gate=gate,
        sleep=sleeps,
        retry=RetryPolicy(attempts=4, backoff_min=0.01, backoff_max=0.02),
        **kw,  # type: ignore[arg-type]
    )


async def test_429_waits_the_retry_after_seconds_then_succeeds(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    route = respx_mock.get(f"{BASE}/items").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    vc = client(sleeps)
    response = await vc.request("GET", "/items", operation="list")
    assert response.json() == {"ok": True}
    assert route.call_count == 2
    assert max(sleeps.calls) >= 7
    assert vc.stats.throttled == 1
    assert vc.stats.retries == 1


async def test_server_errors_are_retried_for_idempotent_calls(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.put(f"{BASE}/x").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )
    await client(Sleeps()).request("PUT", "/x", operation="update", json={})
    assert route.call_count == 2


async def test_a_post_that_reached_the_vendor_is_not_blindly_retried(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{BASE}/jobs").mock(return_value=httpx.Response(502))
    with pytest.raises(TransientError):
        await client(Sleeps()).request("POST", "/jobs", operation="create", json={})
    assert route.call_count == 1


async def test_a_post_that_never_connected_is_retried(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/jobs").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={})]
    )
    await client(Sleeps()).request("POST", "/jobs", operation="create", json={})
    assert route.call_count == 2


async def test_retries_stop_after_the_attempt_budget(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{BASE}/x").mock(return_value=httpx.Response(500, text="boom"))
    with pytest.raises(TransientError, match="HTTP 500"):
        await client(Sleeps()).request("GET", "/x", operation="read")
    assert route.call_count == 4


async def test_timeouts_become_transient_errors(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{BASE}/x").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError, match="timed out"):
        await client(Sleeps()).request("GET", "/x", operation="read")


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthError), (403, AuthError), (400, PermanentError), (404, PermanentError)],
)
async def test_client_errors_are_permanent_and_not_retried(
    respx_mock: respx.MockRouter, status: int, error: type[Exception]
) -> None:
    route = respx_mock.get(f"{BASE}/x").mock(return_value=httpx.Response(status, text="no"))
    with pytest.raises(error):
        await client(Sleeps()).request("GET", "/x", operation="read")
    assert route.call_count == 1


async def test_a_vendor_classifier_takes_precedence(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{BASE}/x").mock(
        return_value=httpx.Response(
            403, json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "limit"}]
        )
    )

    def classify(response: httpx.Response) -> RateLimited | None:
        if response.status_code == 403 and "REQUEST_LIMIT" in response.text:
            return RateLimited("daily limit", retry_after=None)
        return None

    with pytest.raises(RateLimited):
        await client(Sleeps(), classify=classify).request("GET", "/x", operation="read")


async def test_secrets_never_reach_logs_or_errors(respx_mock: respx.MockRouter) -> None:
    secret = "tok-very-secret-123"
    respx_mock.get(f"{BASE}/x").mock(return_value=httpx.Response(400, text=f"bad token {secret}"))
    vc = client(Sleeps(), auth=StaticHeaderAuth.bearer(secret))
    with capture_logs() as logs, pytest.raises(PermanentError) as caught:
        await vc.request("GET", "/x", operation="read")
    assert secret not in str(caught.value)
    assert secret not in repr(logs)


async def test_token_auth_refreshes_once_on_401(respx_mock: respx.MockRouter) -> None:
    class Provider:
        def __init__(self) -> None:
            self.issued = 0

        async def fetch(self) -> str:
            self.issued += 1
            return f"access-{self.issued}"

    provider = Provider()
    route = respx_mock.get(f"{BASE}/x").mock(
        side_effect=[
            httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID"}]),
            httpx.Response(200, json={}),
        ]
    )
    await client(Sleeps(), auth=TokenAuth(provider)).request("GET", "/x", operation="read")
    assert provider.issued == 2
    assert route.calls[1].request.headers["Authorization"] == "Bearer access-2"


async def test_the_gate_holds_every_caller_when_the_budget_is_spent() -> None:
    now = [100.0]
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += seconds

    gate = VendorGate(clock=lambda: now[0], sleep=sleep)
    gate.observe(LimitSignal(remaining=0, reset_after=30))
    await gate.acquire()
    gate.release()
    assert sleeps.calls == [30]


async def test_a_caller_waits_out_every_block_raised_while_it_slept() -> None:
    # Requests already in flight keep answering 429 while a caller sleeps: each answer pushes
    # the block further. The caller is sent only once no block is left, however many there were.
    sleeps = Sleeps()
    extensions = iter([20.0, 20.0, 20.0, 20.0])

    async def sleep_while_others_are_refused(seconds: float) -> None:
        await sleeps(seconds)
        extension = next(extensions, None)
        if extension is not None:
            gate.observe(LimitSignal(retry_after=extension))

    gate = VendorGate(clock=sleeps.clock, sleep=sleep_while_others_are_refused)
    gate.observe(LimitSignal(retry_after=10))
    started = sleeps.now
    await gate.acquire()
    gate.release()
    assert sleeps.now - started == pytest.approx(90.0)
    assert gate.blocked_for == 0.0


async def test_the_gate_paces_to_the_steady_rate() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    gate = VendorGate(rate_per_second=2, burst=1, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await gate.acquire()
        gate.release()
    assert now[0] == pytest.approx(2.0)


async def test_a_window_spends_a_fresh_budget_at_once_then_waits_for_the_oldest() -> None:
    sleeps = Sleeps()
    sleeps.now = 0.0
    gate = VendorGate(window=Window(3, 60.0, margin=1.0), clock=sleeps.clock, sleep=sleeps)
    sent = []
    for _ in range(5):
        await gate.acquire()
        gate.release()
        sent.append(sleeps.now)
    assert sent[:3] == [0.0, 0.0, 0.0]  # no pacing while the minute has room
    assert sent[3:] == [61.0, 61.0]  # the oldest leave the window (60 s + margin)


async def test_a_window_never_puts_more_than_its_limit_into_any_minute() -> None:
    sleeps = Sleeps()
    gate = VendorGate(window=Window(10, 60.0, margin=0.5), clock=sleeps.clock, sleep=sleeps)
    sent = []
    for n in range(45):
        sleeps.now += (n % 7) * 0.9  # callers arrive unevenly
        await gate.acquire()
        gate.release()
        sent.append(sleeps.now)
    busiest = max(sum(1 for t in sent if start <= t < start + 60) for start in sent)
    assert busiest == 10


def test_a_gate_paces_by_rate_or_by_window_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        VendorGate(rate_per_second=1.0, window=Window(60))


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    assert parse_retry_after("soon") is None


async def test_a_post_declared_changeless_is_not_counted_among_the_writes(
    respx_mock: respx.MockRouter,
) -> None:
    """A search or a token request sent as POST changes nothing at the vendor: "0 write
    requests on a re-run" must not count it."""
    respx_mock.post(f"{BASE}/search").mock(return_value=httpx.Response(200, json={}))
    respx_mock.post(f"{BASE}/items").mock(return_value=httpx.Response(201, json={}))
    vc = client(Sleeps())
    await vc.request("POST", "/search", operation="search", json={}, changes=False)
    assert vc.stats.writes == 0
    assert vc.stats.total == 1
    await vc.request("POST", "/items", operation="create", json={})
    assert vc.stats.writes == 1


def _tls_settings(context: ssl.SSLContext) -> tuple[object, ...]:
    return (
        context.verify_mode,
        context.check_hostname,
        context.minimum_version,
        context.options,
        context.cert_store_stats(),
    )


def test_clients_verify_tls_as_httpx_does_by_default() -> None:
    assert _tls_settings(verified_tls()) == _tls_settings(httpx.create_ssl_context())
    assert verified_tls().verify_mode == ssl.CERT_REQUIRED


def count_tls_contexts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ssl.SSLContext]:
    """The TLS contexts made from now on (CA roots at a path no other test has used, so none
    is made already)."""
    roots = tmp_path / "roots.pem"
    roots.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(roots))
    made: list[ssl.SSLContext] = []
    original = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    return made


async def test_every_client_shares_one_tls_context_per_ca_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Loading the CA roots costs ~20 ms of CPU: once per process, not once per client. A
    changed ``SSL_CERT_FILE`` is still honoured, as httpx honours it."""
    made = count_tls_contexts(monkeypatch, tmp_path)
    clients = [VendorClient(connector=f"c{n}", base_url=BASE) for n in range(3)]
    webhook = plain_client(5.0)
    for vc in clients:
        await vc.aclose()
    await webhook.aclose()
    assert len(made) == 1
    roots = str(tmp_path / "roots.pem")
    assert _tls_settings(made[0]) == _tls_settings(ssl.create_default_context(cafile=roots))


async def test_a_client_given_a_transport_makes_no_tls_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made = count_tls_contexts(monkeypatch, tmp_path)
    mock = httpx.MockTransport(lambda _: httpx.Response(200))
    await VendorClient(connector="acme", base_url=BASE, transport=mock).aclose()
    await plain_client(5.0, mock).aclose()
    assert made == []
