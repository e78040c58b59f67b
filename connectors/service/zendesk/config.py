"""What an admin writes under ``connectors.<name>`` for a Zendesk Support target.

Defaults follow Zendesk's documented limits (developer.zendesk.com "Rate limits", via
shared/vendor-apis/service-apis.md section 1): 700 requests a minute (Enterprise), incremental
exports 10 a minute, 100 records per ``update_many`` job, at most 30 jobs queued or running.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.settings import DeskConfig, Secret

ZendeskKind = Literal["organization", "user"]


class ZendeskConfig(DeskConfig):
    """A Zendesk Support account (``https://<subdomain>.zendesk.com``), API token auth."""

    base_url_example = "https://acme.zendesk.com"
    api_suffix = "/api/v2"

    kind: Literal["zendesk"]
    email: str = Field(
        min_length=3, description="Email of the agent the API token belongs to (Basic user)"
    )
    api_token: Secret = Field(description="Zendesk API token (${ENV_VAR} or file:/path)")
    record_kinds: tuple[ZendeskKind, ...] = Field(
        ("organization", "user"), min_length=1, description="Which records deals attach to"
    )
    plan_rpm: int = Field(
        700,
        ge=10,
        description="Account requests per minute: Team 200, Growth/Professional 400, "
        "Enterprise 700, Enterprise Plus or High Volume add-on 2500",
    )
    incremental_per_minute: int = Field(
        10, ge=1, description="Incremental export budget (10/min; 30 with High Volume)"
    )
    per_page: int = Field(1000, ge=1, le=1000, description="Incremental export page size")
    write_batch_size: int = Field(100, ge=1, le=100, description="Records per update_many job")
    max_jobs_in_flight: int = Field(
        20,
        ge=1,
        le=30,
        description="Bulk jobs queued or running at once (Zendesk allows 30 per account: "
        "the rest is left to other integrations)",
    )
    job_seconds: float = Field(
        1.0,
        gt=0,
        description="How long a 100-record job usually takes: the first status poll of a run "
        "waits this long; later polls learn from the jobs before them",
    )
    job_poll_initial: float = Field(
        0.25, gt=0, description="Shortest pause between polls; later polls back off from it (s)"
    )
    job_poll_max: float = Field(10.0, gt=0, description="Longest pause between polls (s)")
    job_timeout: float = Field(900.0, gt=0, description="Give up waiting on one job after (s)")
    single_user_updates_per_second: float = Field(
        1.0, gt=0, description="Fallback PUT /users/{id} pace (Zendesk: about 1/s per account)"
    )
    note_max_length: int = Field(
        30_000, ge=200, description="Longest notes/details text dealbridge writes"
    )

    @property
    def steady_rate(self) -> float:
        """Requests per second for the account budget."""
        return self.rate_per_second or self.plan_rpm / 60.0
