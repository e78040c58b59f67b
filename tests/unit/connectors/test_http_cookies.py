"""Vendor cookies: kept and sent back exactly as httpx keeps them, read only from the responses
that set one."""

from __future__ import annotations

import http.cookiejar
import warnings
from typing import Any

import httpx
import pytest
import respx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.http import SetCookieStore, VendorClient

pytestmark = pytest.mark.anyio
BASE = "https://vendor.example"

HEADER_NAMES = st.sampled_from(
    ["Set-Cookie", "set-cookie", "SET-COOKIE", "Set-Cookie2", "set-cookie2", "Cookie", "X-Other"]
)
HEADER_VALUES = st.text(
    st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60
) | st.sampled_from(
    [
        "sid=abc; Path=/",
        "sid=abc; Domain=vendor.example; Path=/api; Secure; HttpOnly",
        "sid=abc; Domain=.other.example",
        "sid=; Max-Age=0",
        "sid=abc; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
        'sid="quoted value"; Version=1',
        "a=1, b=2",
    ]
)
URLS = st.sampled_from(
    [
        f"{BASE}/api/v2/items.json?ids=1,2",
        "http://vendor.example/login",
        "https://sub.vendor.example/api",
        "https://127.0.0.1:8443/x",
    ]
)


def stored(cookies: httpx.Cookies) -> list[tuple[Any, ...]]:
    """Every cookie of a store, with every attribute that decides where it is sent back."""
    return sorted(
        (c.name, c.value, c.domain, c.path, c.secure, c.expires, c.version, c.port)
        for c in cookies.jar
    )


def warned(cookies: httpx.Cookies, response: httpx.Response) -> list[str]:
    """Read ``response`` into ``cookies``; the warnings http.cookiejar gave about it (it warns,
    and carries on, where a header cannot be parsed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cookies.extract_cookies(response)
    return [str(w.message).splitlines()[0] for w in caught]


@settings(max_examples=300)
@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4), URLS)
@example([("Set-Cookie", "sid=abc; Path=/")], f"{BASE}/api")
@example([("X-Other", "1")], f"{BASE}/api")
def test_a_response_leaves_the_store_as_httpx_own_store_would(
    headers: list[tuple[str, str]], url: str
) -> None:
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers]  # as on the wire
    response = httpx.Response(200, headers=raw, request=httpx.Request("GET", url))
    reference, store = httpx.Cookies({"kept": "1"}), SetCookieStore({"kept": "1"})
    assert warned(store, response) == warned(reference, response)
    assert stored(store) == stored(reference)


async def test_a_cookie_the_vendor_sets_is_sent_back(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/login").mock(
        return_value=httpx.Response(200, headers={"Set-Cookie": "sid=abc; Path=/"})
    )
    items = respx_mock.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json={}))
    vc = VendorClient(connector="acme", base_url=BASE)
    await vc.request("POST", "/login", operation="login")
    await vc.request("GET", "/items", operation="list")
    assert items.calls.last.request.headers["cookie"] == "sid=abc"
    await vc.aclose()


async def test_responses_that_set_no_cookie_skip_the_cookie_jar(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The urllib adapters httpx builds for the jar cost ~25 us a request; a response without
    ``Set-Cookie`` never reaches the jar."""
    reads: list[object] = []
    original = http.cookiejar.CookieJar.extract_cookies

    def counted(jar: http.cookiejar.CookieJar, response: Any, request: Any) -> None:
        reads.append(response)
        original(jar, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", counted)
    respx_mock.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json={}))
    respx_mock.get(f"{BASE}/login").mock(
        return_value=httpx.Response(200, headers={"Set-Cookie": "sid=abc"})
    )
    vc = VendorClient(connector="acme", base_url=BASE)
    for _ in range(3):
        await vc.request("GET", "/items", operation="list")
    assert reads == []
    await vc.request("GET", "/login", operation="login")
    assert len(reads) == 1
    await vc.aclose()
