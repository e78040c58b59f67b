"""The web console's own records: its users, failed sign-ins, its audit trail, its signing key.

Every statement the console needs about these tables is here, so the web package holds no SQL
of its own for them (the views of sync state it shows live in ``store/console_views.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.sql import insert_ignore

ROLES = ("viewer", "lead", "admin")
"""Each role may do what the ones before it may, and more."""


@dataclass(frozen=True)
class ConsoleUser:
    """A person who may sign in to the console."""

    name: str
    role: str
    password_hash: str
    created_at: datetime
    sessions_after: datetime


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(row.name, row.role, row.password_hash, row.created_at, row.sessions_after)


async def get_user(conn: AsyncConnection, name: str) -> ConsoleUser | None:
    """The user called ``name``, or None."""
    row = (
        await conn.execute(sa.select(t.console_user).where(t.console_user.c.name == name))
    ).first()
    return None if row is None else _user(row)


async def list_users(conn: AsyncConnection) -> list[ConsoleUser]:
    """Every user, by name."""
    rows = await conn.execute(sa.select(t.console_user).order_by(t.console_user.c.name))
    return [_user(row) for row in rows]


async def save_user(
    conn: AsyncConnection, name: str, role: str, password_hash: str, now: datetime
) -> bool:
    """Add the user, or replace an existing one's role and password (True when new).

    A new password voids every session signed before it."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: use one of {', '.join(ROLES)}")
    values = {"role": role, "password_hash": password_hash, "sessions_after": now}
    done = await conn.execute(
        sa.update(t.console_user).where(t.console_user.c.name == name).values(**values)
    )
    if done.rowcount:
        return False
    await conn.execute(sa.insert(t.console_user).values(name=name, created_at=now, **values))
    return True


async def set_role(conn: AsyncConnection, name: str, role: str) -> bool:
    """Change a user's role; False when there is no such user."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: use one of {', '.join(ROLES)}")
    done = await conn.execute(
        sa.update(t.console_user).where(t.console_user.c.name == name).values(role=role)
    )
    return bool(done.rowcount)


async def end_sessions(conn: AsyncConnection, name: str, now: datetime) -> None:
    """Void every session of ``name`` signed before ``now`` (signing out)."""
    await conn.execute(
        sa.update(t.console_user).where(t.console_user.c.name == name).values(sessions_after=now)
    )


async def remove_user(conn: AsyncConnection, name: str) -> bool:
    """Remove a user (their sessions stop working at once); False when there was none."""
    done = await conn.execute(sa.delete(t.console_user).where(t.console_user.c.name == name))
    return bool(done.rowcount)


async def count_admins(conn: AsyncConnection) -> int:
    """How many admins there are (the last one may not be removed from the console)."""
    found = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(t.console_user)
        .where(t.console_user.c.role == "admin")
    )
    return int(found or 0)


async def record_login_failure(
    conn: AsyncConnection, account: str, address: str, now: datetime
) -> None:
    """Note a failed sign-in, for throttling."""
    await conn.execute(
        sa.insert(t.console_login_failure).values(
            at=now, account=account[:200], address=address[:100]
        )
    )


async def recent_failures(
    conn: AsyncConnection, account: str, address: str, since: datetime
) -> tuple[int, int]:
    """(failures of this account, failures from this address) since ``since``."""
    f = t.console_login_failure
    by_account = await conn.scalar(
        sa.select(sa.func.count()).where(f.c.account == account[:200], f.c.at >= since)
    )
    by_address = await conn.scalar(
        sa.select(sa.func.count()).where(f.c.address == address[:100], f.c.at >= since)
    )
    return int(by_account or 0), int(by_address or 0)


async def forget_failures(conn: AsyncConnection, account: str, before: datetime) -> None:
    """A successful sign-in clears the account's failures; old ones are pruned for all."""
    f = t.console_login_failure
    await conn.execute(sa.delete(f).where(sa.or_(f.c.account == account[:200], f.c.at < before)))


@dataclass(frozen=True)
class ConsoleChange:
    """One entry of the console's audit trail: who did what to which thing, and when."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: Any


async def record_change(
    conn: AsyncConnection,
    actor: str,
    action: str,
    subject: str,
    detail: Any,
    now: datetime,
) -> None:
    """Append to the console's audit trail (in the transaction of the change itself)."""
    await conn.execute(
        sa.insert(t.console_audit).values(
            at=now, actor=actor, action=action, subject=subject[:600], detail=detail
        )
    )


async def recent_changes(
    conn: AsyncConnection, limit: int = 50, subject_prefix: str | None = None
) -> list[ConsoleChange]:
    """The newest changes made through the console (about one subject, when given)."""
    a = t.console_audit
    query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
    if subject_prefix is not None:
        query = query.where(a.c.subject.startswith(subject_prefix, autoescape=True))
    rows = await conn.execute(query)
    return [ConsoleChange(r.id, r.at, r.actor, r.action, r.subject, r.detail) for r in rows]


async def signing_key(conn: AsyncConnection, now: datetime) -> str:
    """The key that signs session cookies: made once, then shared by every process."""
    s = t.console_secret
    await insert_ignore(
        conn,
        s,
        [{"name": "session", "value": secrets.token_urlsafe(48), "created_at": now}],
        ["name"],
    )
    value = await conn.scalar(sa.select(s.c.value).where(s.c.name == "session"))
    assert value is not None
    return str(value)


THROTTLE_WINDOW = timedelta(minutes=15)
