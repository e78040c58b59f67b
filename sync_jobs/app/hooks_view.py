"""``dealbridge hooks show``: each job's webhook URLs and what to configure at each vendor.

Plain text, built from the verifiers' own :meth:`~connectors.webhooks.Verifier.setup` (so the
instructions cannot drift from what is checked), and free of secrets: it names settings and
their references, never their values.
"""

from __future__ import annotations

from sync_jobs.app.hooks import PUBLIC_URL_VARIABLE, hook_path, public_base, verifier_of
from sync_jobs.config.app import AppConfig

DEFAULT_BASE = "http://127.0.0.1:8080"


def describe_hooks(config: AppConfig, base: str | None = None) -> list[str]:
    """The lines ``hooks show`` prints."""
    root = (base or public_base(DEFAULT_BASE)).rstrip("/")
    lines = [
        f"Webhook URLs on {root} (the daemon's health port; set --public-url or "
        f"{PUBLIC_URL_VARIABLE} to the address the vendors reach, https in production).",
        "A notification only schedules an immediate run of its job; polling stays on.",
    ]
    for job, job_config in sorted(config.jobs.items()):
        every = job_config.schedule.every or f"cron {job_config.schedule.cron}"
        paused = "" if job_config.enabled else "  [paused: notifications are answered, not run]"
        lines.append("")
        lines.append(f"{job}: {job_config.source} -> {job_config.target}, polled {every}{paused}")
        for side, connector in (("source", job_config.source), ("desk", job_config.target)):
            connector_config = config.connectors[connector]
            verifier = verifier_of(connector_config.kind)
            if verifier is None:
                lines.append(f"  {side} {connector} ({connector_config.kind}): no webhooks; polled")
                continue
            setup = verifier.setup(root + hook_path(job, side), connector_config.webhook)
            lines.append(f"  {side} {connector}: {verifier.scheme}")
            lines.append(f"    URL: {setup.url}")
            lines.extend(f"    - {step}" for step in setup.steps)
    return lines
