"""Signing in: argon2 passwords, the session cookie's flags, throttling, expiry, and CSRF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sync_jobs.app.web.auth import COOKIE, hash_password, password_matches
from tests.console.conftest import PASSWORD, ConsoleWorld, csrf_of, sign_in, token_in
from tests.console.testclient import TestClient


def _login_token(client: TestClient) -> str:
    return token_in(client.get("/login").text)


def _try(client: TestClient, name: str, password: str, **headers: str) -> int:
    token = _login_token(client)
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token},
        headers=headers,
        follow_redirects=False,
    )
    return int(answer.status_code)


def test_passwords_are_kept_as_argon2_hashes() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert password_matches(stored, PASSWORD)
    assert not password_matches(stored, PASSWORD + "!")
    assert not password_matches(None, PASSWORD)


def test_pages_send_a_stranger_to_the_sign_in_page(console_world: ConsoleWorld) -> None:
    with console_world.client() as client:
        answer = client.get("/conflicts?status=open", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/conflicts%3Fstatus%3Dopen"


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(
    console_world: ConsoleWorld,
) -> None:
    with console_world.client(base_url="https://testserver") as client:
        token = _login_token(client)
        answer = client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf": token},
            follow_redirects=False,
        )
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and COOKIE in v)
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "secure"} <= flags


def test_over_plain_http_the_cookie_is_not_marked_secure_unless_a_trusted_proxy_says_https(
    console_world: ConsoleWorld,
) -> None:
    with console_world.client() as client:
        token = _login_token(client)
        plain = client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf": token},
            headers={"x-forwarded-proto": "https"},  # not trusted: web.trusted_proxy is off
            follow_redirects=False,
        )
    assert "secure" not in plain.headers["set-cookie"].lower().split("; ")
    text = console_world.config_path.read_text() + "web:\n  trusted_proxy: true\n"
    console_world.config_path.write_text(text)
    with console_world.client() as client:
        token = _login_token(client)
        proxied = client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf": token},
            headers={"x-forwarded-proto": "https"},
            follow_redirects=False,
        )
    cookie = next(v for k, v in proxied.headers.multi_items() if COOKIE in v)
    assert "secure" in cookie.lower().split("; ")


def test_a_wrong_password_is_refused_without_saying_whether_the_name_exists(
    console_world: ConsoleWorld,
) -> None:
    with console_world.client() as client:
        assert _try(client, "ada", "wrong password!") == 401
        wrong_name = client.post(
            "/login",
            data={"name": "nobody", "password": "x", "csrf": _login_token(client)},
            follow_redirects=False,
        )
    assert wrong_name.status_code == 401
    assert "Wrong name or password." in wrong_name.text


def test_sign_in_is_throttled_per_account_even_with_the_right_password(
    console_world: ConsoleWorld,
) -> None:
    with console_world.client() as client:
        for _ in range(5):
            assert _try(client, "lee", "guess") == 401
        assert _try(client, "lee", PASSWORD) == 429
        assert _try(client, "ada", PASSWORD) == 303  # another account is not held up


def test_sign_in_is_throttled_per_address_across_accounts(console_world: ConsoleWorld) -> None:
    with console_world.client() as client:
        for attempt in range(20):
            assert _try(client, f"someone{attempt}", "guess") == 401
        assert _try(client, "ada", PASSWORD) == 429


def test_throttling_ends_after_the_window(console_world: ConsoleWorld) -> None:
    with console_world.client() as client:
        for _ in range(5):
            _try(client, "lee", "guess")
        console_world.clock.shift = timedelta(minutes=16)
        assert _try(client, "lee", PASSWORD) == 303


def test_a_session_expires_after_web_session_minutes(console_world: ConsoleWorld) -> None:
    with console_world.client(base_url="https://testserver") as client:
        sign_in(client, "vic")
        assert client.get("/", follow_redirects=False).status_code == 200
        console_world.clock.shift = timedelta(minutes=481)
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_forged_or_foreign_cookie_is_ignored(console_world: ConsoleWorld) -> None:
    with console_world.client(base_url="https://testserver") as client:
        client.cookies.set(COOKIE, '{"u": "ada"}', domain="testserver")
        assert client.get("/", follow_redirects=False).status_code == 303


def test_the_sign_in_form_refuses_a_post_without_its_token(console_world: ConsoleWorld) -> None:
    with console_world.client() as client:
        answer = client.post("/login", data={"name": "ada", "password": PASSWORD})
    assert answer.status_code == 403


def test_removing_a_user_ends_their_sessions(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    viewer = signed_in("vic")
    admin = signed_in("ada")
    token = csrf_of(admin, "/users")
    assert admin.post("/users/vic/remove", data={"csrf": token}).status_code == 200
    assert viewer.get("/", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_csrf_token_and_voids_a_copy_of_the_cookie(
    signed_in: Callable[[str], TestClient],
) -> None:
    client = signed_in("vic")
    copied = client.cookies.get(COOKIE)
    assert client.post("/logout").status_code == 403
    answer = client.post("/logout", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
    client.cookies.set(COOKIE, copied or "", domain="testserver")
    assert client.get("/", follow_redirects=False).status_code == 303, "the copy is void"


def test_a_next_address_elsewhere_is_not_followed(console_world: ConsoleWorld) -> None:
    with console_world.client() as client:
        token = _login_token(client)
        answer = client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf": token, "next": "//evil.example"},
            follow_redirects=False,
        )
    assert answer.headers["location"] == "/"
