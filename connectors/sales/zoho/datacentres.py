"""Zoho's data centres: where an org's accounts server and API domain live.

Each org lives in exactly one data centre, which "exclusively holds the data of users who have
registered at that domain" (FACTS.md §1.1). The accounts server issues and refreshes tokens
(``{accounts}/oauth/v2/token``, §2.2); the API domain comes from the token response's
``api_domain`` (§1.2). The table below is only the fallback when a token response lacks it, and
the list of accounts servers to ask when a refresh token is refused (the wrong-DC diagnosis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

DataCentreCode = Literal["us", "eu", "in", "au", "cn", "jp", "ca", "sa"]


@dataclass(frozen=True)
class DataCentre:
    """One data centre: its short code, a readable name, and its two hosts."""

    code: DataCentreCode
    name: str
    accounts_url: str
    api_domain: str


DATA_CENTRES: dict[str, DataCentre] = {
    dc.code: dc
    for dc in (
        DataCentre("us", "US", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        DataCentre("eu", "EU", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        DataCentre("in", "India", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        DataCentre(
            "au", "Australia", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"
        ),
        DataCentre("cn", "China", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        DataCentre("jp", "Japan", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        DataCentre("ca", "Canada", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        DataCentre("sa", "Saudi Arabia", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    )
}
"""FACTS.md §1.1 (Zoho multi-DC pages; the SDK's ``dc`` package)."""


def by_accounts_url(url: str) -> DataCentre | None:
    """The data centre whose accounts server is ``url`` (None for a custom or sandbox URL)."""
    host = urlsplit(url).hostname or ""
    found = (dc for dc in DATA_CENTRES.values() if urlsplit(dc.accounts_url).hostname == host)
    return next(found, None)


def by_api_domain(url: str) -> DataCentre | None:
    """The data centre an ``api_domain`` belongs to (sandbox/developer hosts count as theirs)."""
    host = urlsplit(url).hostname or ""
    for dc in DATA_CENTRES.values():
        suffix = (urlsplit(dc.api_domain).hostname or "").removeprefix("www.")
        if host == suffix or host.endswith("." + suffix):
            return dc
    return None
