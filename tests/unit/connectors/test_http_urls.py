"""Where a request goes: the URL httpx would send for the connector's path, however the client
resolved it (the endpoints a client calls again and again are resolved once)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.http import MAX_ENDPOINTS, VendorClient

BASES = st.sampled_from(
    [
        "https://acme.zendesk.com",
        "https://vendor.example/api/",
        "https://vendor.example/api",
        "http://127.0.0.1:8080/v1/sub%20dir/",
        "https://[::1]:8443",
    ]
)
PATHS = st.text(
    st.sampled_from(list("az09/.-_~%20:@!$&'()*+,;=é ?#\\")) | st.characters(), max_size=30
) | st.sampled_from(
    [
        "/api/v2/organizations/show_many.json",
        "api/v2/job_statuses/show_many.json",
        "/services/data/v59.0/query/01gD0000002HU6KIAW-2000",
        "https://other.example/api/v2/search.json?page=2",
        "//other.example/x",
        "",
        "/a/../b/./c",
        "/%zz/bad%",
        "/with space/é",
        "mailto:someone",
    ]
)
PARAMS = st.none() | st.dictionaries(
    st.sampled_from(["ids", "page[size]", "q"]), st.text(max_size=8), max_size=2
)


def wire(request: httpx.Request) -> tuple[Any, ...]:
    """Everything of a request that reaches the vendor."""
    return request.method, str(request.url), request.url.raw_path, request.headers.raw


async def sent(
    client: httpx.AsyncClient | VendorClient, path: str, params: Any, query: str | None = None
) -> Any:
    """None, or the error's type: a bad URL must fail as httpx fails on it. ``query``: the
    query as text (VendorClient's ``query=``; for httpx, the resolved URL with that query)."""
    try:
        if isinstance(client, VendorClient):
            await client.request("GET", path, operation="read", params=params, query=query)
        elif query is not None:
            url = client.build_request("GET", path).url
            await client.request("GET", url.copy_with(query=query.encode()))
        else:
            await client.request("GET", path, params=params)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return type(exc).__name__
    return None


async def both(
    base: str, calls: list[tuple[str, Any]], *, as_query: bool = False
) -> tuple[list[Any], list[Any]]:
    """Each call through a VendorClient and through plain httpx: what reached the vendor.
    A call is a path and its params, or (``as_query``) its query text."""
    ours: list[Any] = []
    theirs: list[Any] = []

    def recorder(into: list[Any]) -> httpx.MockTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            into.append(wire(request))
            return httpx.Response(200)

        return httpx.MockTransport(answer)

    vendor = VendorClient(connector="acme", base_url=base, transport=recorder(ours))
    plain = httpx.AsyncClient(base_url=base, transport=recorder(theirs))
    for path, value in calls:
        params, query = (None, value) if as_query else (value, None)
        ours.append(await sent(vendor, path, params, query))
        theirs.append(await sent(plain, path, params, query))
    await vendor.aclose()
    await plain.aclose()
    return ours, theirs


@settings(max_examples=300, deadline=None)
@given(BASES, st.lists(st.tuples(PATHS, PARAMS), min_size=1, max_size=4))
@example("https://vendor.example/api/", [("items.json", None), ("items.json", {"ids": "1,2"})])
@example("https://vendor.example/api", [("/items.json", {"q": "a b"}), ("/items.json", None)])
@example("https://acme.zendesk.com", [("/%zz", None), ("/x\n", None)])
def test_a_request_goes_where_httpx_sends_it(base: str, calls: list[tuple[str, Any]]) -> None:
    ours, theirs = asyncio.run(both(base, calls + calls))  # each path twice: resolved, then kept
    assert ours == theirs


def test_paths_past_the_kept_number_still_go_where_httpx_sends_them() -> None:
    """Paths naming one record each: more than a client keeps resolved, and back again."""
    paths = [f"/api/v2/organizations/{n}.json" for n in range(MAX_ENDPOINTS + 3)]
    calls = [(path, None) for path in paths + paths[:5]]
    ours, theirs = asyncio.run(both("https://acme.zendesk.com", calls))
    assert ours == theirs


QUERIES = st.text(st.sampled_from(list("az09AZ,=&_.-%20 ?é+")), max_size=40)
"""Query text: id lists as Zendesk's docs write them, and characters httpx must quote."""


@settings(max_examples=100, deadline=None)
@given(BASES, st.lists(st.tuples(PATHS, QUERIES), min_size=1, max_size=3))
def test_a_request_with_query_text_goes_where_httpx_sends_that_url(
    base: str, calls: list[tuple[str, str]]
) -> None:
    """``request(query=...)`` reaches the vendor as httpx sends the URL with that query."""
    ours, theirs = asyncio.run(both(base, calls + calls, as_query=True))
    assert ours == theirs
