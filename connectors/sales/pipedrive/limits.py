"""Pipedrive's two limits as numbers: the burst window by plan, and the token cost of each call.

* Burst (FACTS.md §7.3, PD-RL): requests per token in a rolling **2-second** window, by plan and
  by auth type (OAuth apps get four times an API token's burst). Paced by a sliding window gate.
* Daily budget (FACTS.md §7.1-7.2): every call costs tokens from one company-wide daily budget
  (30,000 x plan multiplier x seats), shared with every other integration and reset at midnight
  server time. Pipedrive reports no remaining budget in any header, so :class:`TokenLedger`
  counts what *this* connector spent and enforces the admin's optional cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from connectors.errors import BudgetExhausted

BURST_WINDOW_SECONDS = 2.0

BURST_BY_PLAN: dict[str, tuple[int, int]] = {
    # plan: (API token, OAuth app) requests per 2 s [PD-RL]
    "lite": (20, 80),
    "growth": (40, 160),
    "premium": (100, 400),
    "ultimate": (120, 480),
    # the older plan names [PD-RL-OLD]
    "essential": (20, 80),
    "advanced": (40, 160),
    "professional": (80, 320),
    "power": (100, 400),
    "enterprise": (120, 480),
}

TOKEN_COST: dict[str, int] = {
    # endpoint (as the client names it) -> tokens per call [FACTS.md §7.2, OAS2 x-token-cost]
    "/api/v2/deals": 10,
    "/api/v2/deals/archived": 20,
    "/api/v2/organizations": 10,
    "/api/v2/persons": 10,
    "/api/v2/dealFields": 10,  # not in the spec copy read [unverified]; the doc-fake's guess
    "/api/v2/organizationFields": 10,  # same [unverified]
    "/api/v2/personFields": 10,  # same [unverified]
    "users": 20,  # GET /v1/users: a v1 list [3p: MrSchrodingers/pipeboard route registry]
}
DEFAULT_COST = 20
"""An endpoint not in the table is charged like a v1 list (PD-RL's generic table)."""


def burst_limit(plan: str, *, oauth: bool) -> int:
    """Requests this connector may send in any 2-second window."""
    token, app = BURST_BY_PLAN[plan]
    return app if oauth else token


def next_utc_midnight(now: datetime) -> datetime:
    """When a daily budget counted in UTC days starts again."""
    tomorrow = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)


def budget_exhausted(
    message: str, *, now: datetime, status: int | None = None, own_cap: bool = False
) -> BudgetExhausted:
    """The ONE place a spent daily budget becomes an error: the job stops (and holds until the
    reset), and the admin is told when it can go on.

    Pipedrive resets "at midnight at server's timezone", which it does not name (FACTS.md
    §7.1): UTC is assumed, and the message says so. The connector's own cap counts UTC days.
    """
    resets = next_utc_midnight(now)
    hours, rest = divmod(int((resets - now).total_seconds()), 3600)
    when = f"{resets:%Y-%m-%d %H:%M} UTC, in {hours} h {rest // 60} min"
    reset = (
        f"the count starts again at midnight UTC ({when})"
        if own_cap
        else f"Pipedrive resets the company's budget at midnight server time (the zone is not "
        f"documented; assuming UTC: {when})"
    )
    return BudgetExhausted(
        f"{message}; {reset}. The job stops now and resumes from its cursor on the first run "
        "after that; to spend less, run it less often or set read_archived: false",
        until=resets,
        exact=own_cap,
        budget="Pipedrive daily token budget",
        status=status,
        vendor_code="daily_budget",
    )


def cost_of(endpoint: str) -> int:
    """Tokens one call to ``endpoint`` costs."""
    return TOKEN_COST.get(endpoint, DEFAULT_COST)


@dataclass
class TokenLedger:
    """Tokens this connector spent per UTC day, and the admin's cap on them."""

    cap: int | None
    now: Callable[[], datetime]
    day: date | None = None
    spent: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def charge(self, endpoint: str) -> None:
        """Count one call before it is sent; refuse it if the cap would be passed."""
        cost = cost_of(endpoint)
        moment = self.now()
        today = moment.astimezone(UTC).date()
        if today != self.day:
            self.day, self.spent = today, 0
        if self.cap is not None and self.spent + cost > self.cap:
            raise budget_exhausted(
                f"this connector spent {self.spent} of its max_tokens_per_day ({self.cap}) "
                f"Pipedrive API tokens today (UTC)",
                now=moment,
                own_cap=True,
            )
        self.spent += cost
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + cost

    def summary(self) -> str:
        """One line for ``check``: what was spent today, against the cap if there is one."""
        cap = f" of max_tokens_per_day {self.cap}" if self.cap is not None else ""
        return f"{self.spent} API tokens spent by this connector today (UTC){cap}"
