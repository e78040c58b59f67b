"""config.yaml: connector instances, jobs, the state store and alert settings, validated at once.

Every problem is collected and reported together, each with its file:line, key path and a
hint. Connector sections are validated by the model their ``kind`` registers, so a plugin's
settings are checked exactly like a built-in's. Relative paths are relative to config.yaml.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator

from connectors.base import Frozen
from connectors.errors import ConfigError, ConfigProblem
from connectors.redact import register_inline_secret
from connectors.registry import UnknownConnectorKind, get_spec, known_kinds
from connectors.settings import ConnectorConfig, Secret
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.alerts.ticket import TicketConfig
from sync_jobs.config.yamlio import (
    key_path,
    line_of,
    load_yaml,
    parse_yaml,
    problems_from_validation,
)
from sync_jobs.domain.durations import parse_duration

T = TypeVar("T", bound=Frozen)


class Schedule(Frozen):
    """When a job runs in the daemon: every N seconds, or a cron expression (UTC)."""

    every: str | None = Field(None, description="interval such as 5m")
    cron: str | None = Field(None, description="five-field cron expression, UTC")
    jitter: str = "10s"

    @field_validator("every")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < 1:
            raise ValueError("an interval of 0 runs without pause; write at least 1s")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from sync_jobs.run.scheduler import cron_trigger  # APScheduler stays in one module

            cron_trigger(value)
        return value

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' (e.g. 5m) or 'cron'")
        return self


class JobConfig(Frozen):
    """One territory feed: a source, the target it writes to, and the mapping between them."""

    source: str
    target: str
    mapping: Path
    territory: str
    schedule: Schedule = Field(default_factory=lambda: Schedule(every="5m"))
    enabled: bool = True


class StateConfig(Frozen):
    """Where dealbridge keeps cursors, base values, conflicts and run history."""

    url: str = "sqlite:///.dealbridge/state.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("use sqlite:///path/to/state.db or postgresql://user@host/db")
        return value


class EngineConfig(Frozen):
    """Tuning that rarely needs changing."""

    max_attempts: int = Field(5, ge=1, description="failures before a record is quarantined")
    work_claim_timeout: str = "10m"
    index_refresh_every: str = Field(
        "1m", description="how often the desk's identity index is refreshed (shared by jobs)"
    )
    lookups_per_run: int = Field(
        1000,
        ge=1,
        description="identity keys a run may look up at the desk for index misses (a deal "
        "needing more waits, unreported, for the next run; divided among a run's workers); "
        "a key costs about one request or less (desks that look up many ids in one request), "
        "see docs/operations.md",
    )
    lease_ttl: str = Field(
        "30s",
        description="how long a job lease lasts without renewal (renewed every third of it): "
        "a holder on another host that stopped renewing is taken over after this; one on "
        "the same host that died, at once",
    )
    write_workers: int = Field(
        16,
        ge=1,
        le=30,
        description="batches of customers one run reads, writes and records at once "
        "(hides the desk's latency and bulk-job time; the connector's rate gate still paces)",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="processes that write a run's customers (stage 2) together: the run's own "
        "and workers - 1 more, claiming from the same queue; each spends 1/workers of the "
        "desk's request budget (docs/operations.md, Worker processes)",
    )

    @property
    def lookups_per_process(self) -> int:
        """``lookups_per_run`` divided among a run's ``workers`` processes (at least one
        each). Each process looks up the keys of the deals it commits, counting in its own
        run state: undivided, a run of N workers could ask N times the configured keys."""
        return max(1, self.lookups_per_run // self.workers)


class OidcConfig(Frozen):
    """Sign-in through the company's identity provider (OpenID Connect, code flow with PKCE)."""

    issuer: str = Field(description="the provider's issuer URL (its discovery document is read)")
    client_id: str
    client_secret: Secret = Field(description="a reference: ${ENV_VAR} or file:/path")
    claim: str = Field(
        "email", description="the ID-token claim that names the console user (users add NAME)"
    )
    label: str = Field("your company account", description="shown on the sign-in button")

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("give the issuer's URL, e.g. https://login.example.com/realms/acme")
        return value.rstrip("/")


class WebConfig(Frozen):
    """The web console (``dealbridge web``, ``dealbridge daemon --web-port``)."""

    base_url: str | None = Field(
        None,
        description="the console's address as people reach it (https://dealbridge.example.com):"
        " alerts then link to the conflict or run they are about",
    )
    trusted_proxy: bool = Field(
        False,
        description="the console is behind a reverse proxy whose X-Forwarded-Proto and "
        "X-Forwarded-For headers are believed (cookies marked Secure, throttling by client)",
    )
    session_minutes: int = Field(480, ge=1, description="how long a sign-in lasts")
    oidc: OidcConfig | None = Field(
        None, description="optional single sign-on; users still need a role"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("give the full address, e.g. https://dealbridge.example.com")
        return None if value is None else value.rstrip("/")


class AppConfig(Frozen):
    """The whole of config.yaml after validation."""

    state: StateConfig = Field(default_factory=StateConfig)
    connectors: dict[str, ConnectorConfig]
    jobs: dict[str, JobConfig]
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    base_dir: Path = Path()
    """Folder of config.yaml; relative paths in it resolve from here."""

    def mapping_path(self, job: str) -> Path:
        """Absolute path of a job's mapping file."""
        path = self.jobs[job].mapping
        return path if path.is_absolute() else self.base_dir / path


class _Sections(Frozen):
    """The top level only: which sections exist (each is then validated on its own)."""

    state: dict[str, Any] = Field(default_factory=dict)
    connectors: dict[str, dict[str, Any]]
    jobs: dict[str, dict[str, Any]]
    alerts: dict[str, Any] = Field(default_factory=dict)
    engine: dict[str, Any] = Field(default_factory=dict)
    web: dict[str, Any] = Field(default_factory=dict)


_KNOWN_KEYS = {
    "": ["state", "connectors", "jobs", "alerts", "engine", "web"],
}


def load_config(path: Path) -> AppConfig:
    """Read and validate config.yaml, raising one ConfigError that lists every problem."""
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    1,
                    "",
                    "expected a mapping at the top level",
                    "start with 'connectors:' and 'jobs:' sections",
                )
            ]
        )
    overrides = apply_env_overrides(doc, os.environ)
    try:
        return parse_config(doc, str(path), path.parent)
    except ConfigError as exc:
        raise ConfigError([_blame_variable(p, overrides) for p in exc.problems]) from None


ENV_PREFIX = "DEALBRIDGE__"


def apply_env_overrides(doc: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """``DEALBRIDGE__STATE__URL=postgresql://...`` sets ``state.url``: one double underscore
    per level, names lower-cased, values read as YAML (``true``, ``5``, ``5m``).

    Returns the key path each variable set (``state.url`` -> its name), so a problem with an
    overridden value names the variable rather than a line of config.yaml that did not say it.
    A variable that cannot be applied is a ConfigError naming it."""
    applied: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        register_inline_secret(name, raw)
        path = [part.lower() for part in name.removeprefix(ENV_PREFIX).split("__") if part]
        problem = _override(doc, path, name, raw)
        if problem is None:
            applied[key_path(path)] = name
        else:
            problems.append(problem)
    if problems:
        raise ConfigError(problems)
    return applied


def _override(doc: dict[str, Any], path: list[str], name: str, raw: str) -> ConfigProblem | None:
    where = f"environment variable {name}"
    if not path:
        return ConfigProblem(where, None, "", "names no key", "write DEALBRIDGE__SECTION__KEY")
    node = doc
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            return ConfigProblem(
                where,
                None,
                key_path(path),
                f"{key_path(path[: depth + 1])} is a value, not a section",
                f"set {ENV_PREFIX}{'__'.join(p.upper() for p in path[: depth + 1])} instead",
            )
        node = child
    node[path[-1]] = _env_value(raw, where)
    return None


def _env_value(raw: str, where: str) -> Any:
    """A variable's value read as YAML (``5``, ``true``, ``{every: 5m}``); text that is not
    valid YAML on its own (a cron such as ``*/5 * * * *`` starts like an alias) is taken as
    written, and validated as that."""
    if not raw:
        return raw
    try:
        return parse_yaml(raw, where)
    except ConfigError:
        return raw


def _blame_variable(problem: ConfigProblem, overrides: dict[str, str]) -> ConfigProblem:
    """A problem inside a value an environment variable set is that variable's problem."""
    for key, name in overrides.items():
        if problem.key == key or problem.key.startswith((f"{key}.", f"{key}[")):
            return dataclasses.replace(problem, file=f"environment variable {name}", line=None)
    return problem


def parse_config(doc: dict[str, Any], file: str, base_dir: Path) -> AppConfig:
    """Validate an already-parsed config document, collecting every problem before failing."""
    try:
        top = _Sections.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, file, doc, known=_KNOWN_KEYS)) from None
    problems: list[ConfigProblem] = []
    state = _section(StateConfig, top.state, ("state",), file, doc, problems)
    alerts = _section(AlertsConfig, top.alerts, ("alerts",), file, doc, problems)
    engine = _section(EngineConfig, top.engine, ("engine",), file, doc, problems)
    web = _section(WebConfig, top.web, ("web",), file, doc, problems)
    connectors: dict[str, ConnectorConfig] = {}
    roles: dict[str, str] = {}
    for name, raw in top.connectors.items():
        built = _connector(name, raw, file, doc, problems, base_dir)
        if built is not None:
            connectors[name], roles[name] = built
    jobs: dict[str, JobConfig] = {}
    for name, raw in top.jobs.items():
        job = _section(JobConfig, raw, ("jobs", name), file, doc, problems)
        if job is not None:
            jobs[name] = job
            problems += _check_job(name, job, roles, set(top.connectors), file, doc, base_dir)
    if alerts is not None:
        problems += _check_ticket_channels(alerts, roles, set(top.connectors), file, doc)
    if problems or state is None or alerts is None or engine is None or web is None:
        raise ConfigError(problems)
    if web.base_url and not alerts.base_url:  # alerts link to the console by default
        alerts = alerts.model_copy(update={"base_url": web.base_url})
    if state.url.startswith("sqlite:///") and not state.url.startswith("sqlite:////"):
        state = StateConfig(url=f"sqlite:///{base_dir / state.url.removeprefix('sqlite:///')}")
    return AppConfig(
        state=state,
        connectors=connectors,
        jobs=jobs,
        alerts=alerts,
        engine=engine,
        web=web,
        base_dir=base_dir,
    )


def _section(
    model: type[T],
    raw: Any,
    loc: tuple[str, ...],
    file: str,
    doc: Any,
    problems: list[ConfigProblem],
) -> T | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems += problems_from_validation(exc, file, doc, prefix=loc)
        return None


def _connector(
    name: str,
    section: dict[str, Any],
    file: str,
    doc: Any,
    problems: list[ConfigProblem],
    base_dir: Path,
) -> tuple[ConnectorConfig, str] | None:
    loc = ("connectors", name)
    kind = section.get("kind")
    if not isinstance(kind, str):
        problems.append(
            ConfigProblem(
                file,
                line_of(doc, loc),
                f"connectors.{name}.kind",
                "missing connector kind",
                f"add kind: one of {', '.join(known_kinds())}",
            )
        )
        return None
    try:
        spec = get_spec(kind)
    except UnknownConnectorKind as exc:
        problems.append(
            ConfigProblem(
                file,
                line_of(doc, (*loc, "kind")),
                f"connectors.{name}.kind",
                str(exc),
                "fix the spelling",
            )
        )
        return None
    try:
        config = spec.config_model.model_validate(section)
    except ValidationError as exc:
        problems += problems_from_validation(exc, file, doc, prefix=loc)
        return None
    return _anchor_paths(config, base_dir), spec.role


def _anchor_paths(config: ConnectorConfig, base_dir: Path) -> ConnectorConfig:
    """Relative file paths in a connector's settings are relative to config.yaml."""
    updates = {
        name: base_dir / value
        for name, value in config
        if isinstance(value, Path) and not value.is_absolute()
    }
    return config.model_copy(update=updates) if updates else config


def _check_ticket_channels(
    alerts: AlertsConfig, roles: dict[str, str], declared: set[str], file: str, doc: Any
) -> list[ConfigProblem]:
    """A ticket channel reaches its desk through a target connector: it must name one."""
    found = []
    for name, channel in alerts.channels.items():
        if not isinstance(channel, TicketConfig):
            continue
        ref = channel.connector
        if ref in declared and ref not in roles:
            continue  # that connector's own problems are already reported
        if roles.get(ref) != "target":
            targets = sorted(n for n, role in roles.items() if role == "target")
            found.append(
                ConfigProblem(
                    file,
                    line_of(doc, ("alerts", "channels", name, "connector")),
                    f"alerts.channels.{name}.connector",
                    f"no target connector named {ref!r}",
                    f"use one of: {', '.join(targets) or '(none)'}",
                )
            )
    return found


def _check_job(
    name: str,
    job: JobConfig,
    roles: dict[str, str],
    declared: set[str],
    file: str,
    doc: Any,
    base_dir: Path,
) -> list[ConfigProblem]:
    found = []
    for key, want in (("source", "source"), ("target", "target")):
        ref = getattr(job, key)
        loc = ("jobs", name, key)
        if ref in declared and ref not in roles:
            continue  # that connector's own problems are already reported
        if ref not in roles:
            found.append(
                ConfigProblem(
                    file,
                    line_of(doc, loc),
                    f"jobs.{name}.{key}",
                    f"no connector named {ref!r}",
                    f"use one of: {', '.join(sorted(roles)) or '(none)'}",
                )
            )
        elif roles[ref] != want:
            found.append(
                ConfigProblem(
                    file,
                    line_of(doc, loc),
                    f"jobs.{name}.{key}",
                    f"{ref!r} is a {roles[ref]}, not a {want}",
                    f"point {key} at a {want} connector",
                )
            )
    mapping = job.mapping if job.mapping.is_absolute() else base_dir / job.mapping
    what = _not_a_mapping_file(mapping)
    if what is not None:
        found.append(
            ConfigProblem(
                file,
                line_of(doc, ("jobs", name, "mapping")),
                f"jobs.{name}.mapping",
                f"mapping file {mapping} {what}",
                MAPPING_HINT,
            )
        )
    return found


def _not_a_mapping_file(path: Path) -> str | None:
    """What is wrong with ``path`` as a mapping file, or None when it is a file."""
    try:
        if path.is_file():
            return None
        return "is a directory, not a mapping file" if path.is_dir() else "not found"
    except OSError as exc:  # a name too long for the file system, a folder we may not read
        return f"cannot be read ({exc.strerror or type(exc).__name__})"


MAPPING_HINT = (
    "name a .yaml file (relative to config.yaml); start from a shipped one in mappings/ "
    "and see mappings/README.md"
)
