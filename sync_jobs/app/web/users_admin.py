"""``dealbridge users add|list|remove``: the console's people, managed from a shell."""

from __future__ import annotations

from sync_jobs.app.web.auth import hash_password
from sync_jobs.run.context import utcnow
from sync_jobs.store import console as people
from sync_jobs.store.db import make_engine, migrate_async, read_tx, write_tx

MIN_PASSWORD = 12


async def add_user(url: str, name: str, role: str, password: str) -> bool:
    """Add (True) or update the user; audited as done from the command line."""
    await migrate_async(url)
    store = make_engine(url)
    try:
        async with write_tx(store) as conn:
            now = utcnow()
            created = await people.save_user(conn, name, role, hash_password(password), now)
            await people.record_change(
                conn, "cli", "user_saved", f"user:{name}", {"role": role}, now
            )
    finally:
        await store.dispose()
    return created


async def all_users(url: str) -> list[people.ConsoleUser]:
    """Every user."""
    await migrate_async(url)
    store = make_engine(url)
    try:
        async with read_tx(store) as conn:
            return await people.list_users(conn)
    finally:
        await store.dispose()


async def drop_user(url: str, name: str) -> bool:
    """Remove the user (False: there was none); audited."""
    await migrate_async(url)
    store = make_engine(url)
    try:
        async with write_tx(store) as conn:
            removed = await people.remove_user(conn, name)
            if removed:
                await people.record_change(
                    conn, "cli", "user_removed", f"user:{name}", None, utcnow()
                )
    finally:
        await store.dispose()
    return removed
