"""Routing rules from config.yaml: which alerts go to which channels, and to whom.

Rules are checked in order and every matching rule contributes its channels (an alert can go
to Slack and to the deal owner's inbox). Recipient templates run in Jinja2's sandbox with the
alert's facts, e.g. ``"{{ owner }}"`` is the deal owner's email.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import Field, ValidationInfo, field_validator, model_validator

from connectors.base import Frozen
from sync_jobs.alerts.base import Alert, Severity
from sync_jobs.alerts.channels import ChannelConfig
from sync_jobs.domain.durations import parse_duration

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
_ENV = SandboxedEnvironment(undefined=StrictUndefined)


class Route(Frozen):
    """One routing rule; empty filters match everything."""

    kinds: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    min_severity: Severity = "info"
    channels: tuple[str, ...] = Field(min_length=1)
    recipients: tuple[str, ...] = ()
    """Email templates, e.g. ``"{{ owner }}"`` or ``"service-leads@example.com"``."""

    def matches(self, alert: Alert) -> bool:
        """True when this rule applies to ``alert``."""
        return (
            (not self.kinds or alert.kind in self.kinds)
            and (not self.territories or alert.territory in self.territories)
            and (not self.jobs or alert.job in self.jobs)
            and SEVERITY_ORDER[alert.severity] >= SEVERITY_ORDER[self.min_severity]
        )


class AlertsConfig(Frozen):
    """The ``alerts`` section of config.yaml."""

    base_url: str | None = None
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    repeat_failures_every: str = "1h"
    digests: dict[str, str] = Field(
        default_factory=dict,
        description="channel -> interval (e.g. 1h): that channel gets one summary per interval",
    )
    max_attempts: int = Field(8, ge=1)

    @field_validator("channels", "routes", "digests", mode="before")
    @classmethod
    def _empty_means_none(cls, value: Any, info: ValidationInfo) -> Any:
        # ``channels:`` with its examples still commented out is YAML null: no channels.
        if value is None:
            return () if info.field_name == "routes" else {}
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _no_desk_specific_ticket_types(cls, value: Any) -> Any:
        # Before desk tickets went through the target connectors, each desk had its own
        # channel type with its own credentials; say what replaced it rather than only
        # listing the types that exist now.
        if not isinstance(value, dict):
            return value  # pydantic says what is wrong with it
        for name, section in value.items():
            kind = section.get("type") if isinstance(section, dict) else None
            if isinstance(kind, str) and kind.endswith("_ticket"):
                raise ValueError(
                    f"channel {name!r}: type {kind!r} was replaced by `type: ticket` with "
                    "`connector: <name of the service target connector>`: the ticket is opened "
                    "through that connector and its credentials (see docs/alerts.md)"
                )
        return value

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertsConfig:
        for i, route in enumerate(self.routes):
            unknown = [c for c in route.channels if c not in self.channels]
            if unknown:
                raise ValueError(
                    f"routes[{i}] names unknown channel(s) {', '.join(unknown)}; "
                    f"channels: {', '.join(self.channels) or '(none)'}"
                )
            for template in route.recipients:
                try:
                    _ENV.from_string(template)
                except TemplateError as exc:
                    raise ValueError(f"routes[{i}] recipient {template!r}: {exc}") from None
        unknown = [c for c in self.digests if c not in self.channels]
        if unknown:
            raise ValueError(f"digests name unknown channel(s) {', '.join(unknown)}")
        for every in self.digests.values():
            parse_duration(every)
        return self


def route(alert: Alert, config: AlertsConfig) -> dict[str, tuple[str, ...]]:
    """Channel name -> recipients for this alert (no entry: nobody is told)."""
    targets: dict[str, list[str]] = {}
    context = {
        **alert.extra,
        "customer": alert.customer,
        "deal": alert.deal,
        "territory": alert.territory,
        "job": alert.job,
        "kind": alert.kind,
    }
    for rule in config.routes:
        if not rule.matches(alert):
            continue
        people = [_render(t, context) for t in rule.recipients]
        for channel in rule.channels:
            targets.setdefault(channel, []).extend(p for p in people if p)
    return {c: tuple(dict.fromkeys(p)) for c, p in targets.items()}


def _render(template: str, context: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(template).render(**context).strip()
    except TemplateError:
        return ""  # e.g. no owner email on this deal: that recipient is skipped
