"""What an admin writes under ``connectors.<name>`` for a Freshdesk target, and what it implies.

The defaults are the lowest paid plan's documented budgets (Growth: 200 requests a minute for
the account, 20 a minute for listing contacts), so an unconfigured connector never provokes
429s on a small account; an admin on Pro or Enterprise raises them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.settings import DeskConfig, Secret, WriteConcurrency

CONTACT_LIST_SHARE = 0.1
"""Contact-list budget as a share of the account budget when not configured (Growth: 20/200)."""


class FreshdeskConfig(DeskConfig):
    """A Freshdesk helpdesk (``https://<domain>.freshdesk.com``) written through API v2."""

    base_url_example = "https://acme.freshdesk.com"
    api_suffix = "/api/v2"

    kind: Literal["freshdesk"]
    api_key: Secret = Field(
        description="API key of the agent dealbridge acts as (${ENV_VAR} or file:/path)"
    )
    requests_per_minute: int = Field(
        200,
        ge=1,
        description="Account-wide plan limit per minute: Growth 200, Pro 400, Enterprise 700",
    )
    contact_list_per_minute: int | None = Field(
        None,
        ge=1,
        description="Separate cap on listing contacts: Growth 20, Pro 100, Enterprise 200 "
        "(default: a tenth of the steady rate)",
    )
    per_page: int = Field(100, ge=1, le=100, description="List page size (Freshdesk max 100)")
    write_concurrency: WriteConcurrency = 10
    note_max_length: int = Field(
        10_000, ge=200, description="Longest description/note text dealbridge writes"
    )
    customer_number_field: str = Field(
        "cf_customer_number",
        min_length=1,
        description="Company custom field holding the customer number (companies have no "
        "external id in Freshdesk)",
    )
    overlap_seconds: int = Field(
        300, ge=0, description="Re-read window before the cursor, for clock skew and ties"
    )
    company_lookup_listing: bool = Field(
        True,
        description="When the filter API finds no company for a customer number or domain "
        "a deal asks for, list every company before calling it unmatched (the filter API "
        "lags by minutes; the listing costs one request per 100 companies)",
    )
    company_search: bool = Field(
        False,
        description="Find changed companies through the filter API (at most 300 results, "
        "minutes behind changes) instead of listing them all at every identity refresh",
    )

    @property
    def steady_rate(self) -> float:
        """Requests per second for the whole account budget."""
        return self.rate_per_second or self.requests_per_minute / 60.0

    @property
    def contact_list_rate(self) -> float:
        """Requests per second for ``GET /api/v2/contacts`` listings (their own, lower cap)."""
        if self.contact_list_per_minute is not None:
            return self.contact_list_per_minute / 60.0
        return self.steady_rate * CONTACT_LIST_SHARE
