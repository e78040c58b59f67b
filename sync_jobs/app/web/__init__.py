"""The web console: server-rendered pages over the state store, for admins and service leads.

``console_app`` builds the Starlette app ``dealbridge web`` serves and ``dealbridge daemon
--web-port`` mounts beside its runs. See docs/console.md.
"""

from sync_jobs.app.web.app import console_app

__all__ = ["console_app"]
