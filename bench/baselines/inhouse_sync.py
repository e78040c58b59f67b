"""The in-house script dealbridge is compared with, written the way an IT team writes it.

Query the special-terms deals, then for each deal, one after another: search the customer in
Zendesk by customer number and update the organization (fields and a one-line note). It is not
a strawman: one keep-alive client, SOQL paging via ``nextRecordsUrl``, and a 429 is waited out
for the ``Retry-After`` the vendor names. Plain HTTP: neither Salesforce nor Zendesk publishes
an official Python SDK. It does none of what dealbridge adds (no incremental cursor, no
agent-edit protection, no batching), which is the point of the comparison.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

SOQL = (
    "SELECT Id, Name, Special_Discount__c, Payment_Terms__c, Terms_Valid_Until__c, "
    "SLA_Promise__c, Account.Customer_Number__c FROM Opportunity WHERE Has_Special_Terms__c = true"
)
TERMS = {"Net 30": "net30", "Net 45": "net45", "Net 60": "net60"}


@dataclass(frozen=True)
class SalesforceAccess:
    """Where and how the script logs in to Salesforce (refresh-token flow)."""

    base_url: str
    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True)
class ZendeskAccess:
    """Where and how the script reaches Zendesk (API token)."""

    base_url: str
    email: str
    api_token: str


@dataclass
class BaselineResult:
    """What one run of the script did."""

    deals_seen: int = 0
    records_updated: int = 0
    requests: int = 0
    throttled: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class _Client:
    """One keep-alive client that counts calls and waits out 429s."""

    def __init__(self, result: BaselineResult) -> None:
        self.http = httpx.Client(timeout=60)
        self.result = result

    def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        while True:
            self.result.requests += 1
            response = self.http.request(method, url, **kw)
            if response.status_code != 429:
                return response
            self.result.throttled += 1
            time.sleep(float(response.headers.get("Retry-After", "1")))


def run_baseline(salesforce: SalesforceAccess, zendesk: ZendeskAccess) -> BaselineResult:
    """Copy every special-terms deal onto its Zendesk organization, one deal at a time."""
    result = BaselineResult()
    client = _Client(result)
    started = time.perf_counter()
    token = client.call(
        "POST",
        f"{salesforce.base_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": salesforce.client_id,
            "client_secret": salesforce.client_secret,
            "refresh_token": salesforce.refresh_token,
        },
    ).json()
    sf_headers = {"Authorization": f"Bearer {token['access_token']}"}
    instance = token.get("instance_url", salesforce.base_url)
    url: str | None = f"{instance}/services/data/v61.0/query?q={SOQL}"
    zd_auth = (f"{zendesk.email}/token", zendesk.api_token)
    while url:
        page = client.call("GET", url, headers=sf_headers).json()
        for deal in page["records"]:
            result.deals_seen += 1
            _update_customer(client, zendesk.base_url, zd_auth, deal, result)
        following = page.get("nextRecordsUrl")
        url = f"{instance}{following}" if following else None
    result.seconds = time.perf_counter() - started
    client.http.close()
    return result


def _update_customer(
    client: _Client,
    base_url: str,
    auth: tuple[str, str],
    deal: dict[str, Any],
    result: BaselineResult,
) -> None:
    number = (deal.get("Account") or {}).get("Customer_Number__c")
    found = client.call(
        "GET",
        f"{base_url}/api/v2/organizations/search.json",
        params={"external_id": number},
        auth=auth,
    ).json()["organizations"]
    if len(found) != 1:
        result.errors.append(f"{deal['Id']}: {len(found)} organizations for {number}")
        return
    discount = deal.get("Special_Discount__c")
    body = {
        "organization": {
            "notes": f"Deal {deal['Name']}: {discount}% discount, {deal.get('Payment_Terms__c')}",
            "organization_fields": {
                "special_discount": discount,
                "payment_terms": TERMS.get(str(deal.get("Payment_Terms__c"))),
                "terms_valid_until": deal.get("Terms_Valid_Until__c"),
            },
        }
    }
    answer = client.call(
        "PUT", f"{base_url}/api/v2/organizations/{found[0]['id']}.json", json=body, auth=auth
    )
    if answer.status_code == 200:
        result.records_updated += 1
    else:
        result.errors.append(f"{deal['Id']}: HTTP {answer.status_code}")
