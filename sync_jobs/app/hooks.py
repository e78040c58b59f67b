"""The webhook receiver: ``POST /hooks/<job>`` (the job's source) and ``/hooks/<job>/desk``
(its desk), on the daemon's health server.

A notification is checked in this order, cheapest first, and answered at once:

1. the job exists and its connector's kind has a verifier (``ConnectorSpec.webhook``): else 404;
2. the body is at most ``MAX_BODY_BYTES`` (declared or read): else 413, the rest unread;
3. the connector's verifier accepts it (signature, shared key or basic auth, timestamp window):
   else 401 (400 when the body is not what the vendor sends);
4. a signature seen in the last ten minutes is a replay: 409;
5. a paused job (``enabled: false``, or stopped for a broken mapping) answers 202 and runs
   nothing (a 4xx would make the vendor retry, or drop the subscription, for a pause);
6. otherwise the job's :class:`~sync_jobs.app.doorbell.Doorbell` rings: 202, or the vendor's
   expected answer (Salesforce's SOAP Ack). A desk notification first rings the desk
   (:mod:`sync_jobs.run.desk_bells`) with the records its verifier found named in it, so the
   run re-reads those dealbridge wrote to (:mod:`sync_jobs.run.desk_edits`).

Nothing in the body reaches the store or a log, but the ids a desk's verifier names (values
come only from the desk's own read). Every outcome is counted in
``dealbridge_webhooks_total{job, outcome}``; a refusal is logged once a minute per job and
outcome (with how many were not logged), so a storm of forgeries cannot flood the log.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.base import RecordRef
from connectors.registry import UnknownConnectorKind, get_spec, load_object
from connectors.settings import ConnectorConfig
from connectors.webhooks import Notification, Rejected, ReplayCache, Verifier
from sync_jobs.app.doorbell import Doorbell
from sync_jobs.config.app import AppConfig
from sync_jobs.store.leases import holder_of

log = structlog.get_logger("dealbridge.hooks")

MAX_BODY_BYTES = 1_048_576
"""1 MiB: a Salesforce Outbound Message of 100 notifications with every field is far below."""
LOG_EVERY_SECONDS = 60.0
UNKNOWN = "(unknown)"
"""The job label for a path naming no job (an attacker must not mint metric series)."""
PUBLIC_URL_VARIABLE = "DEALBRIDGE_PUBLIC_URL"
"""Scheme and host the vendors call (``https://dealbridge.example.com``), behind a proxy."""


class HookSite(Protocol):
    """What the receiver needs from its host (the daemon)."""

    def current_config(self) -> AppConfig | None:
        """The configuration in force (it changes on reload)."""
        ...

    def paused(self, job: str) -> bool:
        """True when ``job`` must not run now (disabled, or stopped for its mapping)."""
        ...

    def desk_rung(self, job: str, records: tuple[RecordRef, ...]) -> None:
        """``job``'s desk notified a change (of ``records``, when it named them)."""
        ...


def hook_path(job: str, side: str = "source") -> str:
    """The path of a job's hook for its source, or (``side="desk"``) for its desk."""
    return f"/hooks/{job}" + ("/desk" if side == "desk" else "")


def public_base(default: str) -> str:
    """Scheme and host the vendors call: ``DEALBRIDGE_PUBLIC_URL``, else ``default``."""
    return os.environ.get(PUBLIC_URL_VARIABLE, "").strip().rstrip("/") or default


def verifier_of(kind: str) -> Verifier | None:
    """The verifier a connector kind names (None: that kind is polled only)."""
    try:
        reference = get_spec(kind).webhook
    except UnknownConnectorKind:
        return None
    if reference is None:
        return None
    verifier: Verifier = load_object(reference)
    return verifier


@dataclass
class HookReceiver:
    """The ``/hooks`` routes: verify, then ring the job's doorbell."""

    site: HookSite
    doorbell: Doorbell
    registry: CollectorRegistry
    max_body: int = MAX_BODY_BYTES
    clock: Callable[[], float] = time.time
    replays: ReplayCache = field(default_factory=ReplayCache)
    _logged: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = Counter(
            "dealbridge_webhooks_total",
            "Webhook notifications by job and outcome (scheduled, coalesced, follow_up, "
            "paused, rejected, replayed, too_large, not_found, bad_request)",
            ["job", "outcome"],
            registry=self.registry,
        )

    def routes(self) -> list[Route]:
        """The two routes to add to the health server."""
        return [
            Route("/hooks/{job}", self.source_hook, methods=["POST"]),
            Route("/hooks/{job}/desk", self.desk_hook, methods=["POST"]),
        ]

    async def source_hook(self, request: Request) -> Response:
        """A notification from the job's source (its CRM, or a spreadsheet script)."""
        return await self.handle(request, "source")

    async def desk_hook(self, request: Request) -> Response:
        """A notification from the job's desk (an agent edited a customer)."""
        return await self.handle(request, "desk")

    async def handle(self, request: Request, side: str) -> Response:
        """Check one notification and ring the doorbell (see the module's docstring)."""
        job = request.path_params["job"]
        found = self._resolve(job, side)
        if isinstance(found, Response):
            return found
        connector, connector_config, verifier = found
        body = await _read_capped(request, self.max_body)
        if body is None:
            return self._refuse(job, "too_large", 413, f"body over {self.max_body} bytes")
        notification = Notification(
            method=request.method,
            url=_called_url(request),
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=body,
            received=self.clock(),
        )
        try:
            accepted = verifier.verify(notification, connector_config.webhook)
        except Rejected as refusal:
            outcome = "bad_request" if refusal.status == 400 else "rejected"
            return self._refuse(job, outcome, refusal.status, refusal.reason)
        if accepted.replay_key is not None and self.replays.seen_before(
            f"{connector}:{accepted.replay_key}", notification.received
        ):
            return self._refuse(job, "replayed", 409, "signature already seen (a replay)")
        if self.site.paused(job):
            outcome = "paused"
            self._note(job, outcome, "job is paused; nothing scheduled")
        else:
            if side == "desk":
                self.site.desk_rung(job, accepted.records)
            outcome = self.doorbell.ring(job)
        self.counts.labels(job, outcome).inc()
        if accepted.reply is not None:
            reply = accepted.reply
            return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
        return JSONResponse({"job": job, "run": outcome}, status_code=202)

    def _resolve(self, job: str, side: str) -> tuple[str, ConnectorConfig, Verifier] | Response:
        """The connector a hook path is about and its verifier, or the 404 to answer."""
        config = self.site.current_config()
        job_config = config.jobs.get(job) if config is not None else None
        if config is None or job_config is None:
            return self._refuse(UNKNOWN, "not_found", 404, "no such job")
        connector = job_config.source if side == "source" else job_config.target
        connector_config = config.connectors[connector]
        verifier = verifier_of(connector_config.kind)
        if verifier is None:
            reason = f"{connector_config.kind} sends no webhooks dealbridge can verify"
            return self._refuse(job, "not_found", 404, reason)
        return connector, connector_config, verifier

    def _refuse(self, job: str, outcome: str, status: int, reason: str) -> Response:
        self.counts.labels(job, outcome).inc()
        self._note(job, outcome, reason)
        return JSONResponse({"error": reason}, status_code=status)

    def _note(self, job: str, outcome: str, reason: str) -> None:
        """Log the first of each (job, outcome) a minute, with how many went unlogged."""
        now = self.clock()
        last, unlogged = self._logged.get((job, outcome), (-LOG_EVERY_SECONDS, 0))
        if now - last < LOG_EVERY_SECONDS:
            self._logged[(job, outcome)] = (last, unlogged + 1)
            return
        self._logged[(job, outcome)] = (now, 0)
        log.warning(
            "webhook_refused" if outcome != "paused" else "webhook_ignored",
            job=job,
            outcome=outcome,
            reason=reason,
            not_logged_since=unlogged,
        )


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _called_url(request: Request) -> str:
    """The URL the vendor called: ``DEALBRIDGE_PUBLIC_URL`` (scheme and host) when a proxy
    stands in front, else what the request says; path and query as received."""
    url = request.url
    base = public_base(f"{url.scheme}://{url.netloc}")
    return base + url.path + (f"?{url.query}" if url.query else "")


class _DaemonSite:
    """The daemon as the receiver's host, through its public attributes only."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def current_config(self) -> AppConfig | None:
        engine = self.daemon.engine
        return None if engine is None else engine.config

    def paused(self, job: str) -> bool:
        config = self.current_config()
        if config is None or not config.jobs[job].enabled:
            return True
        health = self.daemon.health.get(job)
        return health is not None and health.last_status == "config_invalid"

    def desk_rung(self, job: str, records: tuple[RecordRef, ...]) -> None:
        engine = self.daemon.engine
        if engine is not None:
            engine.desk_bells.ring(engine.config.jobs[job].target, records)


def daemon_doorbell(daemon: Any, poll: float = 0.1) -> Doorbell:
    """A doorbell whose runs are the daemon's own (``run_once``: metrics, back-off, drained
    at shutdown), and which waits while any run of the job (a scheduled tick, another
    replica) holds the job's lease."""

    async def wait_free(job: str) -> None:
        engine = daemon.engine
        while engine is not None and not engine.stopping.is_set():
            if await holder_of(engine.store, f"job:{job}") is None:
                return
            await asyncio.sleep(poll)

    async def run(job: str) -> bool:
        await daemon.run_once(job)
        health = daemon.health.get(job)
        # run_job's notice for a job another run holds ends so ("...; skipped").
        return not (health is not None and str(health.last_status).endswith("; skipped"))

    return Doorbell(wait_free, run)


def daemon_hooks(daemon: Any) -> HookReceiver:
    """The daemon's ``/hooks`` receiver; the daemon mounts its :meth:`~HookReceiver.routes` on
    the health server (:meth:`sync_jobs.app.daemon.Daemon.mount`)."""
    return HookReceiver(_DaemonSite(daemon), daemon_doorbell(daemon), daemon.metrics.registry)
