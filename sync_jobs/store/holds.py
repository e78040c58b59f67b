"""Budget holds: a connector whose vendor budget for a long period is spent, and until when.

When a vendor says the day's budget is gone (Salesforce REQUEST_LIMIT_EXCEEDED on the rolling
24-hour allocation, HubSpot's DAILY policy), no job that uses the connector runs before the
hold's ``until``: every replica reads it here, so none of them spends requests that cannot
succeed. A hold renewed before its episode ended keeps its ``since``: one alert per episode.
The first run that completes on the connector afterwards ends the episode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t

H = t.budget_hold.c


@dataclass(frozen=True)
class Hold:
    """One connector on hold."""

    connector: str
    until: datetime
    since: datetime
    reason: str


def _hold(row: sa.Row[tuple[str, datetime, datetime, str]]) -> Hold:
    return Hold(row.connector, row.until, row.since, row.reason)


async def hold(
    conn: AsyncConnection, connector: str, until: datetime, reason: str, now: datetime
) -> Hold:
    """Put ``connector`` on hold until ``until`` (extending an episode still on record)."""
    row = (await conn.execute(sa.select(t.budget_hold).where(H.connector == connector))).first()
    if row is None:
        await conn.execute(
            sa.insert(t.budget_hold).values(
                connector=connector, until=until, since=now, reason=reason
            )
        )
        return Hold(connector, until, now, reason)
    await conn.execute(
        sa.update(t.budget_hold)
        .where(H.connector == connector)
        .values(until=max(until, row.until), reason=reason)
    )
    return Hold(connector, max(until, row.until), row.since, reason)


async def active(conn: AsyncConnection, connectors: Iterable[str], now: datetime) -> list[Hold]:
    """Holds on any of ``connectors`` that have not ended by ``now``."""
    query = sa.select(t.budget_hold).where(H.connector.in_(list(connectors)), H.until > now)
    return [_hold(r) for r in await conn.execute(query.order_by(H.until.desc()))]


async def end(conn: AsyncConnection, connectors: Iterable[str]) -> list[Hold]:
    """A run completed on these connectors: their episodes are over. Returns those ended."""
    names = list(connectors)
    ended = [
        _hold(r) for r in await conn.execute(sa.select(t.budget_hold).where(H.connector.in_(names)))
    ]
    if ended:
        await conn.execute(sa.delete(t.budget_hold).where(H.connector.in_(names)))
    return ended


async def all_holds(conn: AsyncConnection) -> list[Hold]:
    """Every hold on record (status shows those still in force)."""
    return [_hold(r) for r in await conn.execute(sa.select(t.budget_hold).order_by(H.connector))]
