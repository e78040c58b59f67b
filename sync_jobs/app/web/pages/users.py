"""People and their roles (admin), and the trail of every change made through the console."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync_jobs.app.web.auth import hash_password
from sync_jobs.app.web.guard import Refused, require, require_change
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.app.web.users_admin import MIN_PASSWORD
from sync_jobs.store import console as people
from sync_jobs.store.db import read_tx, write_tx


async def user_list(request: Request) -> Response:
    """GET /users (admin)."""
    who = await require(request, "admin")
    state = console_state(request)
    async with read_tx(state.store) as conn:
        rows = await people.list_users(conn)
    return render(
        request,
        "users.html",
        who,
        rows=rows,
        roles=people.ROLES,
        message=request.query_params.get("message"),
    )


async def save_user(request: Request) -> Response:
    """POST /users: add a person, or change one's role (and password, when given)."""
    who, form = await require_change(request, "admin")
    state = console_state(request)
    name = str(form.get("name", "")).strip()
    role = str(form.get("role", ""))
    password = str(form.get("password", ""))
    if not name or role not in people.ROLES:
        raise Refused("give a name and one of the roles viewer, lead, admin")
    now = state.clock()
    async with write_tx(state.store) as conn:
        existing = await people.get_user(conn, name)
        demoted = existing is not None and existing.role == "admin" and role != "admin"
        if demoted and await people.count_admins(conn) <= 1:
            raise Refused("the last admin keeps the admin role (add another admin first)")
        if password:
            if len(password) < MIN_PASSWORD:
                raise Refused(f"a password has at least {MIN_PASSWORD} characters")
            await people.save_user(conn, name, role, hash_password(password), now)
        elif existing is None:
            raise Refused("a new person needs a password")
        else:
            await people.set_role(conn, name, role)
        await people.record_change(
            conn,
            who.name,
            "user_saved",
            f"user:{name}",
            {"role": role, "password_changed": bool(password)},
            now,
        )
    return RedirectResponse(f"/users?message=saved+{name}", status_code=303)


async def remove_user(request: Request) -> Response:
    """POST /users/{name}/remove (admin; never the last admin)."""
    who, _form = await require_change(request, "admin")
    state = console_state(request)
    name = str(request.path_params["name"])
    async with write_tx(state.store) as conn:
        user = await people.get_user(conn, name)
        if user is not None and user.role == "admin" and await people.count_admins(conn) <= 1:
            raise Refused("the last admin cannot be removed")
        if await people.remove_user(conn, name):
            await people.record_change(
                conn, who.name, "user_removed", f"user:{name}", None, state.clock()
            )
    return RedirectResponse(f"/users?message=removed+{name}", status_code=303)


async def changes(request: Request) -> Response:
    """GET /changes: who changed what through the console, newest first."""
    who = await require(request)
    state = console_state(request)
    async with read_tx(state.store) as conn:
        rows = await people.recent_changes(conn, limit=200)
    return render(request, "changes.html", who, rows=rows)
