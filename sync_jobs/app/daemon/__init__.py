"""``dealbridge daemon``: every job on its schedule, alerts dispatched, health and metrics served.

Lifecycle: open the store (retrying with backoff while it is unreachable), on SQLite take the
``daemon`` lease (a second daemon on the same file is refused with the holder's name; one whose
holder died is not: it takes over at once, so a crashed daemon restarts cleanly under systemd),
build the schedule, run every job once at once (then on its schedule), serve /healthz /readyz
/metrics, and run until SIGTERM/SIGINT. Each run logs one ``run_finished`` line (info, the
daemon's default level) and, while it lasts, a ``run_progress`` line a minute. Shutdown stops new
ticks, lets each running job commit the page or batch in hand, releases leases and exits
within ``drain_seconds``. SIGHUP, or an edit to config.yaml or a mapping, reloads: the new
version is validated first (the checks of ``validate --offline``, write fields against the kept
catalogs included) and swapped in only if valid; an invalid edit keeps the old version
running, logs ``reload_refused`` with every problem and raises a ``config_invalid`` alert. At
start, a job whose mapping fails those checks is not scheduled (``jobs_disabled``, alert) and
the others run; a later edit that fixes it is picked up like any reload.

A job whose runs keep failing backs off (capped exponential) while other jobs keep their
schedules; a failing job alerts once per ``alerts.repeat_failures_every``. A job whose vendor
budget is spent (``budget_exhausted``) is not backed off here: the store's budget hold keeps
every replica from running it before the budget can succeed again.

The pieces, one job each: :mod:`.jobs` (schedule, runs, back-off, drain), :mod:`.reloading`
(noticing and checking edits), :mod:`.store_access` (opening the store, the SQLite daemon
lease), :mod:`.connector_checks`, :mod:`.operator_alerts`, :mod:`.gauges`,
:mod:`.health_server` (where extra HTTP routes are mounted: :meth:`Daemon.mount`),
:mod:`.signals`; :mod:`.process` puts them together.
"""

from sync_jobs.app.daemon.process import Daemon, DaemonOptions
from sync_jobs.app.daemon.store_access import SecondDaemon
from sync_jobs.store.db import make_engine

__all__ = ["Daemon", "DaemonOptions", "SecondDaemon", "make_engine"]
