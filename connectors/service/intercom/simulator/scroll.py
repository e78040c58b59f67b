"""The company scroll (FACTS.md §4.7): one at a time per app, expiring, never resumable.

* The first ``GET /companies/scroll`` opens a scroll over the companies that exist at that
  moment and answers its first page with a ``scroll_param``; each later call with that
  parameter answers the next page.
* One scroll per app: opening another while one is open answers 400 ``scroll_exists`` (the
  HTTP status is not documented; the code is, by client libraries).
* A scroll not used for a minute expires; its parameter then answers 404 ``not_found``.
* The end is a page with empty ``data``, after which the parameter is gone.
* A broken scroll (``break_next``) answers 500 "Request failed due to an internal network
  error. Please restart the scroll operation." and is closed: it can only be started again.
* The page size is not documented; ``page_size`` is this simulator's choice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

EXPIRY = 60.0
RESTART_MESSAGE = (
    "Request failed due to an internal network error. Please restart the scroll operation."
)


class ScrollRefused(Exception):
    """An answer other than a page: (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


@dataclass
class _Scroll:
    param: str
    ids: list[str]
    position: int = 0
    last_used: float = 0.0


@dataclass
class Scrolls:
    """The app's scroll, if one is open."""

    page_size: int
    clock: Callable[[], float]
    current: _Scroll | None = None
    break_next: bool = False
    opened: int = 0
    _params: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def page(
        self, param: str | None, companies: Mapping[str, dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str]:
        """The next page and the parameter for the one after, or :class:`ScrollRefused`."""
        now = self.clock()
        scroll = self.current
        if scroll is not None and now - scroll.last_used > EXPIRY:
            self.current = scroll = None
        if self.break_next and scroll is not None:
            self.break_next, self.current = False, None
            raise ScrollRefused(500, "server_error", RESTART_MESSAGE)
        if param is None:
            if scroll is not None:
                raise ScrollRefused(
                    400,
                    "scroll_exists",
                    "A scroll is already open for this app; continue it with its scroll_param "
                    "or wait until it expires",
                )
            self.opened += 1
            scroll = _Scroll(f"scroll-{next(self._params):08d}", list(companies), last_used=now)
            self.current = scroll
        elif scroll is None or scroll.param != param:
            raise ScrollRefused(404, "not_found", "Scroll parameter not found (expired or ended)")
        rows: list[dict[str, Any]] = []
        while len(rows) < self.page_size and scroll.position < len(scroll.ids):
            company = companies.get(scroll.ids[scroll.position])
            scroll.position += 1
            if company is not None:  # deleted since the scroll opened: skipped
                rows.append(company)
        scroll.last_used = now
        if not rows:
            self.current = None  # the end: the parameter expires
        return rows, scroll.param
