"""The ``dealbridge`` command: demo, validate, run, status, deals, conflicts, connectors, hooks,
sandbox.

Exit codes: 0 ok; 1 a run finished with record errors (or failed); 2 bad config or mapping.
Human output on a terminal, JSON log lines with ``--log-format json``.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from connectors.errors import ConfigError, ConfigProblem
from sync_jobs.app import event_loop
from sync_jobs.app import logging as dblog
from sync_jobs.app.collector import tune_collector
from sync_jobs.app.listening import PortUnavailable, listening_socket
from sync_jobs.app.progress_view import progress_for
from sync_jobs.app.report import print_problems, print_report
from sync_jobs.config.app import AppConfig, load_config
from sync_jobs.config.yamlio import line_of, load_yaml
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import compile_mappings, open_engine, run_job
from sync_jobs.run.workers import MAX_WORKERS, budget_shares
from sync_jobs.store.db import StoreError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Carry one-off deal terms from territory CRMs into the contact center.",
)
deals_app = typer.Typer(help="Inspect synced deals.", no_args_is_help=True)
conflicts_app = typer.Typer(help="List, inspect and resolve conflicts.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Run the vendor simulators.", no_args_is_help=True)
app.add_typer(deals_app, name="deals")
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(sandbox_app, name="sandbox")
alerts_app = typer.Typer(help="Alert outbox and channels.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
users_app = typer.Typer(help="People who may sign in to the web console.", no_args_is_help=True)
app.add_typer(users_app, name="users")
quarantine_app = typer.Typer(
    help="Customers parked after repeated write failures.", no_args_is_help=True
)
app.add_typer(quarantine_app, name="quarantine")
hooks_app = typer.Typer(help="Webhooks that ring a job's doorbell.", no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")

console = Console()
T = TypeVar("T")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to config.yaml")]
DEFAULT_CONFIG = Path("config.yaml")


@app.callback()
def _global(
    ctx: typer.Context,
    log_format: Annotated[str, typer.Option(help="console or json")] = "console",
    log_level: Annotated[
        str | None,
        typer.Option(help="debug, info, warning, error [default: info for daemon, else warning]"),
    ] = None,
) -> None:
    # The daemon's info lines (one per run) are its only sign of life; a command's output is
    # its report, so there only warnings and errors are logged.
    level = log_level or ("info" if ctx.invoked_subcommand == "daemon" else "warning")
    dblog.configure("json" if log_format == "json" else "console", level)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return event_loop.run(coro)
    except event_loop.EventLoopChoiceError as error:
        coro.close()  # never started: close it rather than leave a never-awaited warning
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def _config(path: Path) -> AppConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print_problems(console, exc.problems)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - whatever a file holds, the admin gets no traceback
        _internal_error(path, exc)
        raise typer.Exit(2) from None


def _store_problem(path: Path, exc: Exception) -> ConfigProblem:
    """The state store named by ``state.url`` cannot be opened (or created, or migrated)."""
    try:
        line = line_of(load_yaml(path), ("state", "url"))
    except ConfigError:
        line = None
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    return ConfigProblem(
        str(path),
        line,
        "state.url",
        f"the state store cannot be opened: {type(exc).__name__}: {detail}",
        "check the path (its folder must be writable) or that PostgreSQL is reachable",
    )


def _internal_error(path: Path, exc: Exception) -> None:
    """A config that made dealbridge itself fail: say so without a traceback or its text."""
    console.print(
        f"[red]{escape(str(path))}: internal error while checking it ({type(exc).__name__})[/]; "
        "this is a dealbridge bug: please report it with the file (secrets removed)",
        soft_wrap=True,
    )


@app.command()
def validate(
    config: ConfigOption = DEFAULT_CONFIG,
    offline: Annotated[bool, typer.Option(help="skip the field-catalog checks")] = False,
) -> None:
    """Check config.yaml and every mapping (against the connectors' field catalogs)."""
    from sync_jobs.app.validate import Validation, validate_all

    cfg = _config(config)

    async def go() -> Validation:
        connections = Connections(cfg.connectors)
        try:
            return await validate_all(cfg, connections, catalogs=not offline)
        finally:
            await connections.aclose()

    try:
        found = _run(go())
    except Exception as exc:  # noqa: BLE001 - a mapping must never produce a traceback
        _internal_error(config, exc)
        raise typer.Exit(2) from None
    for notice in found.notices:
        console.print(f"[cyan]notice:[/] {escape(notice)}", soft_wrap=True)
    if found.problems:
        print_problems(console, found.problems)
        raise typer.Exit(2)
    console.print(f"[green]ok[/]: {len(cfg.connectors)} connectors, {len(cfg.jobs)} jobs valid")


@app.command()
def run(
    job: Annotated[str, typer.Argument(help="job name from config.yaml, or 'all'")],
    config: ConfigOption = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, write nothing")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="ignore the cursor; re-read all deals")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="processes that write the customers together (default: engine.workers, 1); "
            "each spends 1/N of the desk's request budget",
        ),
    ] = None,
) -> None:
    """Run one job (or all) once: pull, match, plan, write."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        console.print(
            f"[red]--workers must be between 1 and {MAX_WORKERS}[/] (got {workers}): "
            "1 is this process alone"
        )
        raise typer.Exit(2)
    cfg = _config(config)
    if workers is not None:
        cfg = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"workers": workers})})
    names = list(cfg.jobs) if job == "all" else [job]
    unknown = [n for n in names if n not in cfg.jobs]
    if unknown:
        console.print(f"[red]unknown job {unknown[0]!r}[/]; jobs: {', '.join(cfg.jobs)}")
        raise typer.Exit(2)
    # A job whose mapping, template or select is wrong stops alone (exit 2); the rest run.
    _, broken = compile_mappings(cfg)
    for name in names:
        if name in broken:
            console.print(f"[red]{name}: not run[/]: its mapping has problems")
            print_problems(console, broken[name].problems)
    refused = 2 if any(name in broken for name in names) else 0
    names = [name for name in names if name not in broken]

    async def go() -> int:
        try:
            engine = await open_engine(cfg)
        except (OSError, StoreError) as exc:
            print_problems(console, [_store_problem(config, exc)])
            return 2
        connections = Connections(cfg.connectors, budget_shares=budget_shares(cfg))
        code = refused
        # Each target is written by the last of its jobs, after every job read its deals.
        last_of_target = {cfg.jobs[name].target: name for name in names}
        try:
            with progress_for(console) as progress:
                engine.progress = progress
                for name in names:
                    writes = last_of_target[cfg.jobs[name].target] == name
                    report = await run_job(
                        engine,
                        connections,
                        name,
                        dry_run=dry_run,
                        full=full,
                        write=writes,
                        retry_now=True,  # the operator asked: failed records are retried now
                    )
                    print_report(console, report)
                    code = max(code, report.exit_code)
            if not dry_run:
                await _deliver_alerts(cfg, engine.store, connections)
        finally:
            await connections.aclose()
            await engine.store.dispose()
        return code

    raise typer.Exit(_run(go()))


@app.command()
def status(
    config: ConfigOption = DEFAULT_CONFIG, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Recent runs per job with counts and errors, queue depth and open conflicts."""
    from sync_jobs.app.report import gather_status, print_status

    cfg = _config(config)
    data = _run(gather_status(cfg))
    if as_json:
        console.print_json(json.dumps(data, default=str))
    else:
        print_status(console, data)


@app.command()
def connectors(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered connector kind (built-in and plugins) with its role and capabilities."""
    from sync_jobs.app.connector_list import as_json as rows_json
    from sync_jobs.app.connector_list import print_table, rows

    found = rows()
    if as_json:
        console.print_json(json.dumps(rows_json(found)))
    else:
        print_table(console, found)


@deals_app.command("show")
def deals_show(deal_id: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Everything dealbridge knows about one deal: terms, match, and the record it lands on."""
    from sync_jobs.app.report import print_deal

    cfg = _config(config)
    if not _run(print_deal(console, cfg, deal_id)):
        raise typer.Exit(1)


@conflicts_app.command("list")
def conflicts_list(
    config: ConfigOption = DEFAULT_CONFIG,
    open_only: Annotated[bool, typer.Option("--open", help="only open conflicts")] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="e.g. target_edited")] = None,
) -> None:
    """Conflicts, newest first."""
    from sync_jobs.app.report import print_conflicts

    cfg = _config(config)
    _run(print_conflicts(console, cfg, "open" if open_only else None, kind))


@conflicts_app.command("show")
def conflicts_show(conflict_id: int, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """One conflict in full: values, deals, owners, version, and how to resolve it."""
    from sync_jobs.app.report import print_conflict

    cfg = _config(config)
    if not _run(print_conflict(console, cfg, conflict_id)):
        raise typer.Exit(1)


@conflicts_app.command("resolve")
def conflicts_resolve(
    conflict_id: int,
    take: Annotated[str, typer.Option(help="source, target, value=..., or territory=NAME")],
    config: ConfigOption = DEFAULT_CONFIG,
    by: Annotated[str, typer.Option(help="who decides (recorded in the audit trail)")] = "cli",
    expect_version: Annotated[
        int | None,
        typer.Option(help="refuse if the conflict changed since this version (see conflicts show)"),
    ] = None,
) -> None:
    """Decide a conflict; the next run applies the decision (audited)."""
    from sync_jobs.app.resolve import ResolveRefused, resolve
    from sync_jobs.run.context import utcnow
    from sync_jobs.store.db import make_engine, migrate_async

    cfg = _config(config)

    async def go() -> str:
        await migrate_async(cfg.state.url)
        engine = make_engine(cfg.state.url)
        try:
            return await resolve(
                engine,
                conflict_id,
                take,
                by=by,
                now=utcnow(),
                expect_version=expect_version,
                alerts=cfg.alerts,
            )
        finally:
            await engine.dispose()

    try:
        outcome = _run(go())
    except ResolveRefused as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]conflict {conflict_id} resolved[/]: {outcome}")


async def _deliver_alerts(cfg: AppConfig, store: Any, connections: Connections) -> None:
    """Send what the runs queued (the daemon does this on its own schedule)."""
    from sync_jobs.alerts.channels import build_channel
    from sync_jobs.alerts.outbox import Dispatcher
    from sync_jobs.run.context import utcnow

    if not cfg.alerts.channels:
        return
    channels = {
        n: build_channel(n, c, connectors=connections.target)
        for n, c in cfg.alerts.channels.items()
    }
    try:
        report = await Dispatcher(store, cfg.alerts, channels, utcnow).deliver_due(limit=500)
    finally:
        for channel in channels.values():
            await channel.aclose()
    if report.sent or report.retried or report.parked:
        console.print(
            f"alerts: {report.sent} sent, {report.retried} to retry, {report.parked} parked"
        )


@alerts_app.command("test")
def alerts_test(channel: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Send a sample alert through one channel, to check its settings."""
    from connectors.errors import ConnectorError, TransientError
    from sync_jobs.alerts.base import Alert
    from sync_jobs.alerts.channels import build_channel

    cfg = _config(config)
    if channel not in cfg.alerts.channels:
        console.print(
            f"[red]no channel {channel!r}[/]; channels: "
            f"{', '.join(cfg.alerts.channels) or '(none)'}"
        )
        raise typer.Exit(2)
    sample = Alert(
        key="test:sample",
        kind="test",
        severity="info",
        title="dealbridge test alert",
        summary="If you can read this, the channel works. No customer or deal is involved.",
        action="nothing: this is a test",
        customer="Acme Corporation (sample)",
        facts=(("channel", channel),),
    )

    async def go() -> str:
        connections = Connections(cfg.connectors)
        sender = build_channel(channel, cfg.alerts.channels[channel], connectors=connections.target)
        try:
            delivery = await sender.send(sample)
        finally:
            await sender.aclose()
            await connections.aclose()
        return delivery.reference or "delivered"

    try:
        console.print(f"[green]sent[/]: {_run(go())}")
    except ConnectorError as exc:
        kind = "failed (temporary)" if isinstance(exc, TransientError) else "refused"
        console.print(f"[red]{kind}:[/] {exc}")
        raise typer.Exit(1) from None


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption = DEFAULT_CONFIG,
    pending: Annotated[bool, typer.Option("--pending", help="only not yet sent")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="only parked (dead)")] = False,
) -> None:
    """The alert outbox, newest first."""
    from sync_jobs.app.report import print_outbox

    cfg = _config(config)
    status = "dead" if failed else ("pending" if pending else None)
    _run(print_outbox(console, cfg, status))


@alerts_app.command("retry")
def alerts_retry(outbox_id: int, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Queue a parked or failing alert again (sent by the daemon or the next run)."""
    from sync_jobs.alerts.outbox import retry_now
    from sync_jobs.run.context import utcnow
    from sync_jobs.store.db import make_engine, migrate_async

    cfg = _config(config)

    async def go() -> bool:
        await migrate_async(cfg.state.url)
        engine = make_engine(cfg.state.url)
        try:
            return await retry_now(engine, outbox_id, utcnow())
        finally:
            await engine.dispose()

    if not _run(go()):
        console.print(f"[red]no unsent alert {outbox_id}[/]")
        raise typer.Exit(1)
    console.print(f"alert {outbox_id} queued again")


@quarantine_app.command("list")
def quarantine_list(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Customers whose writes failed too often, and why (they no longer block anything)."""
    from sync_jobs.store.db import make_engine, migrate_async, read_tx
    from sync_jobs.store.work import parked

    cfg = _config(config)

    async def go() -> list[Any]:
        await migrate_async(cfg.state.url)
        engine = make_engine(cfg.state.url)
        try:
            async with read_tx(engine) as conn:
                return await parked(conn)
        finally:
            await engine.dispose()

    rows = _run(go())
    if not rows:
        console.print("nothing is parked")
    for row in rows:
        console.print(
            f"{row.target} {row.customer_key}: {row.attempts} attempts; "
            f"last error: {row.last_error}",
            soft_wrap=True,
        )


@quarantine_app.command("retry")
def quarantine_retry(
    customer: Annotated[str | None, typer.Argument(help="kind:id, or omit for all")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Queue parked customers again; the next run (or the daemon) retries them."""
    from sync_jobs.run.context import utcnow
    from sync_jobs.store.db import make_engine, migrate_async, write_tx
    from sync_jobs.store.work import unpark

    cfg = _config(config)

    async def go() -> int:
        await migrate_async(cfg.state.url)
        engine = make_engine(cfg.state.url)
        try:
            async with write_tx(engine) as conn:
                return await unpark(conn, utcnow(), customer)
        finally:
            await engine.dispose()

    console.print(f"{_run(go())} customer(s) queued again")


@hooks_app.command("show")
def hooks_show(
    config: ConfigOption = DEFAULT_CONFIG,
    public_url: Annotated[
        str | None,
        typer.Option(help="scheme and host the vendors call [default: $DEALBRIDGE_PUBLIC_URL]"),
    ] = None,
) -> None:
    """Each job's webhook URLs and what to configure on the vendor's side."""
    from sync_jobs.app.hooks_view import describe_hooks

    for line in describe_hooks(_config(config), public_url):
        console.print(escape(line), soft_wrap=True, highlight=False)


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[
        str, typer.Option(help="bind address (loopback only by default)")
    ] = "127.0.0.1",
    base_port: Annotated[int, typer.Option(help="first port; one port per vendor")] = 8701,
    sheets: Annotated[Path, typer.Option(help="where to write the APAC sheets")] = Path(
        ".dealbridge/apac-sheets"
    ),
    latency: Annotated[float, typer.Option(help="seconds added to every answer")] = 0.0,
) -> None:
    """Serve every vendor simulator, seeded with the demo world, on consecutive ports."""
    from sandbox.serve import serve_all

    _run(serve_all(host, base_port, console, sheets=sheets, latency=latency))


@app.command()
def daemon(
    config: ConfigOption = DEFAULT_CONFIG,
    health_port: Annotated[int, typer.Option(help="port of /healthz /readyz /metrics")] = 8080,
    health_host: Annotated[
        str, typer.Option(help="bind address of the health server")
    ] = "127.0.0.1",
    web_port: Annotated[
        int | None, typer.Option(help="also serve the web console on this port")
    ] = None,
    web_host: Annotated[str, typer.Option(help="bind address of the web console")] = "127.0.0.1",
) -> None:
    """Run every job on its schedule until SIGTERM; health and metrics over HTTP."""
    from sync_jobs.app.daemon import Daemon, DaemonOptions

    options = DaemonOptions(
        health_host=health_host, health_port=health_port, web_host=web_host, web_port=web_port
    )
    raise typer.Exit(_run(Daemon(config, options).run()))


def _demo_targets() -> list[str]:
    from connectors.registry import demo_targets

    return demo_targets()


def _default_target() -> str:
    from sandbox.world import default_target

    return default_target()


def _demo_jobs(extra: str) -> list[str]:
    """The shipped territories plus ``extra`` (comma-separated job names, or ``all``)."""
    from sandbox.world import default_territories, territories

    jobs = list(default_territories())
    wanted = [*territories()] if extra.strip() == "all" else extra.split(",")
    jobs += [job.strip() for job in wanted if job.strip() and job.strip() not in jobs]
    if unknown := [job for job in jobs if job not in territories()]:
        known = ", ".join(territories())
        console.print(f"[red]unknown territory {', '.join(unknown)}; known: {known}, all[/]")
        raise typer.Exit(2)
    return jobs


@app.command()
def web(
    config: ConfigOption = DEFAULT_CONFIG,
    port: Annotated[int, typer.Option(help="port of the web console")] = 8090,
    host: Annotated[
        str, typer.Option(help="bind address (loopback only by default)")
    ] = "127.0.0.1",
) -> None:
    """Serve the web console (overview, conflicts, customers, mappings, alerts) alone."""
    from sync_jobs.app.web.serve import serve_console

    _config(config)  # a broken config.yaml is reported here, not as a traceback at start
    try:
        sock = listening_socket(host, port, "--port")
    except PortUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _run(serve_console(config, host, port, sock=sock))


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="viewer, lead or admin")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add a console user (or set an existing one's role and password)."""
    import sys

    from sync_jobs.app.web.users_admin import MIN_PASSWORD, add_user
    from sync_jobs.store.console import ROLES

    if role not in ROLES:
        console.print(f"[red]--role {escape(role)}[/]: use one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    if not password_stdin:
        console.print("[red]give the password on standard input with --password-stdin[/]")
        raise typer.Exit(2)
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        console.print(f"[red]a password has at least {MIN_PASSWORD} characters[/]")
        raise typer.Exit(2)
    cfg = _config(config)
    created = _run(add_user(cfg.state.url, name, role, password))
    console.print(f"{'added' if created else 'updated'} {escape(name)} ({role})")


@users_app.command("list")
def users_list(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Console users and their roles."""
    from sync_jobs.app.web.users_admin import all_users

    cfg = _config(config)
    rows = _run(all_users(cfg.state.url))
    if not rows:
        console.print("no users yet: dealbridge users add NAME --role admin --password-stdin")
    for user in rows:
        console.print(f"{escape(user.name)}\t{user.role}\tsince {user.created_at:%Y-%m-%d}")


@users_app.command("remove")
def users_remove(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Remove a console user; their sessions stop working at once."""
    from sync_jobs.app.web.users_admin import drop_user

    cfg = _config(config)
    if not _run(drop_user(cfg.state.url, name)):
        console.print(f"[red]no user {escape(name)}[/]")
        raise typer.Exit(1)
    console.print(f"removed {escape(name)}")


@app.command()
def demo(
    target: Annotated[
        str | None,
        typer.Option(
            help="the desk to write to: any registered desk with a simulator "
            "(`dealbridge connectors` lists them); default: config.yaml's"
        ),
    ] = None,
    state_dir: Annotated[Path, typer.Option(help="where the demo keeps its SQLite state")] = Path(
        ".dealbridge-demo"
    ),
    territories: Annotated[
        str,
        typer.Option(
            help="more territories beside config.yaml's three, comma-separated (nordics, "
            "central, latam: the other registered CRMs), or all"
        ),
    ] = "",
) -> None:
    """Run the whole sync on in-process simulators: no accounts, no network."""
    from sync_jobs.app.demo import run_demo

    target = target or _default_target()
    if target not in (choices := _demo_targets()):
        console.print(f"[red]--target must be one of {', '.join(choices)}[/]")
        raise typer.Exit(2)
    jobs = _demo_jobs(territories)
    raise typer.Exit(_run(run_demo(console, target, state_dir, jobs)))


def main() -> None:
    """Console-script entry point."""
    tune_collector()
    app()
