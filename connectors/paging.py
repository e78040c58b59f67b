"""How a connector walks a vendor's listing, page by page, without looping or losing a page.

A vendor listing is one of four shapes; each is a small strategy here, in the manner of dlt's
paginators. The connector supplies ``fetch``: one request for one position, answering a
:class:`Page` (its items and where the vendor says the next page is). The strategy decides
which position to ask for next and when the listing is over, and it refuses to go round in a
circle: a vendor that sends the same position twice, or no progress, stops the read with
:class:`NoProgress` (a :class:`~connectors.errors.PermanentError`: a developer looks at it)
instead of paging forever.

=====================  ============================================  ==========================
strategy               the next position is                          the guard
=====================  ============================================  ==========================
:class:`CursorPaging`  the vendor's opaque token, or its ``next``    a token seen before
                       URL (:func:`next_link` reads a Link header)
:class:`OffsetPaging`  this offset + the page size asked for         a page past the total
:class:`KeysetPaging`  the key the page ends at (time, id, ...)      a key that did not grow
:class:`TimeWindows`   the next window; a window the vendor cannot   a window too narrow to
                       answer in full is cut in two and re-read      split that still overflows
=====================  ============================================  ==========================

Strategies hold no connection and no vendor knowledge; the connector keeps its own request
shape, payload parsing and checkpoints, and yields records page by page as before.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

import httpx

from connectors.errors import PermanentError

T = TypeVar("T")
P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


class NoProgress(PermanentError):
    """The vendor sent a read round in a circle (the same token twice, a key that did not
    move): continuing would page forever, so the read stops where it is."""


@dataclass(frozen=True)
class Page(Generic[T, P]):
    """One answer: its items, and the position of the next page (None on the last page)."""

    items: Sequence[T]
    following: P | None


@dataclass(frozen=True)
class Where:
    """Who is paging, for the error a stuck read raises: the connector instance, the
    operation, and the vendor's name as people know it."""

    connector: str = ""
    operation: str = ""
    vendor: str = "the vendor"

    def stuck(self, message: str) -> NoProgress:
        return NoProgress(message, connector=self.connector, operation=self.operation)


ANYWHERE = Where()


# --- cursor / next-token / next-URL ---------------------------------------------------------


class Answer(Protocol[P_co]):
    """What a read needs of the connector's own page type: the vendor's next-page position
    (None on the last page). :class:`Page` is the plain one."""

    @property
    def following(self) -> P_co | None: ...


A = TypeVar("A", bound=Answer[str])


class CursorPaging(Generic[A]):
    """Follow the vendor's next-page token (or next-page URL) until it gives none.

    ``fetch(None)`` asks for the first page (or ``fetch(start)`` when resuming); every later
    request passes the token the page before answered (``position`` names it in the error).
    ``fetch`` may answer the connector's own page type (anything with ``following``), which is
    what is yielded. ``is_last``: a page that ends the read even though it names a next
    position (vendors whose listings end with an empty page).
    """

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[A]],
        *,
        where: Where = ANYWHERE,
        position: str = "next-page position",
        is_last: Callable[[A], bool] | None = None,
    ) -> None:
        self._fetch = fetch
        self._where = where
        self._position = position
        self._is_last = is_last

    async def pages(self, start: str | None = None) -> AsyncIterator[A]:
        """Every page, first to last; :class:`NoProgress` on a token seen before."""
        seen: set[str] = set() if start is None else {start}
        token = start
        while True:
            page = await self._fetch(token)
            yield page
            following = page.following
            if following is None or (self._is_last is not None and self._is_last(page)):
                return
            if following in seen:
                raise self._where.stuck(
                    f"{self._where.vendor} sent the same {self._position} twice ({following}); "
                    "stopping instead of reading the same pages again"
                )
            seen.add(following)
            token = following


_LINK = re.compile(r"<([^>]*)>\s*;\s*([^,]*)")
_REL = re.compile(r'rel\s*=\s*"?([^";]+)"?')


def next_link(header: str | None) -> str | None:
    """Path and query of the ``rel="next"`` target of an RFC 8288 ``Link`` header, or None.

    Only the path is kept: the request goes to the configured host, so a ``Link`` header can
    never send credentials elsewhere."""
    if not header:
        return None
    for target, params in _LINK.findall(header):
        if any("next" in rel.split() for rel in _REL.findall(params)):
            return httpx.URL(target).raw_path.decode("ascii")
    return None


# --- offset / start-limit -------------------------------------------------------------------


N = TypeVar("N", bound=Answer[int])


class OffsetPaging(Generic[N]):
    """Ask for a page at ``offset``, then at the next offset, until the vendor says the
    listing is over.

    ``following`` is the next offset (usually ``offset + limit``), None on the last page: the
    connector sets it from the vendor's sign (``more_records: false``, no ``next`` link) or,
    lacking one, from a short page (see :func:`more_if_full`). Step by the limit asked for,
    not by the items received, where a
    vendor filters a page after sizing it (ServiceNow's ACLs): a short or empty page that is
    not the last means only that rows were hidden. ``max_offset`` is the vendor's ceiling
    (HubSpot's 10,000 results): the read ends before asking past it. Vendors that number
    pages instead (``page=1, 2, ...``) are the same walk with ``limit=1``. ``fetch`` may
    answer the connector's own page type (anything with ``following``).
    """

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[N]],
        *,
        where: Where = ANYWHERE,
        max_offset: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._where = where
        self._max_offset = max_offset

    async def pages(self, start: int = 0) -> AsyncIterator[N]:
        """Every page from ``start``; :class:`NoProgress` if the vendor names an earlier
        offset than the one just read (it would reread pages)."""
        offset = start
        while True:
            page = await self._fetch(offset)
            yield page
            following = page.following
            if following is None:
                return
            if following <= offset:
                raise self._where.stuck(
                    f"the vendor pointed back from offset {offset} to {following}; stopping"
                )
            if self._max_offset is not None and following >= self._max_offset:
                return  # the vendor's documented ceiling: paging past it is refused
            offset = following


def more_if_full(items: Sequence[object], offset: int, limit: int) -> int | None:
    """The next offset when a page came back full, None after a short page (the usual sign
    of the last page when the vendor says nothing more)."""
    return offset + limit if len(items) >= limit else None


# --- keyset ---------------------------------------------------------------------------------


class Ordered(Protocol):
    """Keys compare: times, ids, or tuples of them."""

    def __lt__(self, other: Self, /) -> bool: ...


K = TypeVar("K", bound=Ordered)


class KeysetPaging(Generic[T, K]):
    """Ask for what comes after a key; the page's last key is where the next request starts.

    ``following`` is the key the page ended at (or the vendor's own end marker, such as
    Zendesk's ``end_time``). A key that did not grow is a page filled by one key's ties:
    ``step_past`` (for example "the next second") moves past a key whose ties the vendor
    answers whole; without it, the read stops with :class:`NoProgress`.

    Vendors whose next page starts *at* the boundary key (not after it) send the boundary's
    items again: given ``key_of`` and ``identity``, an item already yielded at or after the
    boundary is not yielded twice (what is remembered is one boundary's worth, however long
    the listing).
    """

    def __init__(
        self,
        fetch: Callable[[K], Awaitable[Page[T, K]]],
        *,
        where: Where = ANYWHERE,
        step_past: Callable[[K], K] | None = None,
        key_of: Callable[[T], K] | None = None,
        identity: Callable[[T], Hashable] | None = None,
    ) -> None:
        self._fetch = fetch
        self._where = where
        self._step_past = step_past
        self._key_of = key_of
        self._identity = identity

    async def pages(self, start: K) -> AsyncIterator[Page[T, K]]:
        """Every page from ``start``; ``following`` of each yielded page is where reading
        would resume, so it is the checkpoint once the page is stored."""
        key, edge = start, Boundary[T, K](self._key_of, self._identity)
        while True:
            page = await self._fetch(key)
            following = page.following
            if following is not None and not key < following:
                if self._step_past is None or following < key:
                    raise self._where.stuck(
                        f"the listing did not move past {key!r}; stopping instead of "
                        "asking for the same page again"
                    )
                following = self._step_past(key)
            yield Page(items=edge.fresh(page.items, following), following=following)
            if following is None:
                return
            key = following


class Boundary(Generic[T, K]):
    """Identities of the items yielded at or after the last boundary key: what the next page
    may send again, and nothing older (memory stays a page's worth however long the read)."""

    def __init__(
        self, key_of: Callable[[T], K] | None, identity: Callable[[T], Hashable] | None
    ) -> None:
        self._key_of = key_of
        self._identity = identity
        self._seen: dict[Hashable, K] = {}

    @property
    def remembered(self) -> list[Hashable]:
        """The identities kept, oldest first."""
        return list(self._seen)

    def fresh(self, items: Sequence[T], boundary: K | None) -> Sequence[T]:
        """``items`` less those already yielded; then forget what lies before ``boundary``."""
        if self._key_of is None or self._identity is None:
            return items
        kept = []
        for item in items:
            name = self._identity(item)
            if name not in self._seen:
                self._seen[name] = self._key_of(item)
                kept.append(item)
        if boundary is not None:
            self._seen = {n: k for n, k in self._seen.items() if not k < boundary}
        return kept


# --- time windows, re-sliced when one overflows ---------------------------------------------


@dataclass(frozen=True)
class WindowAnswer(Generic[T]):
    """What the vendor answered for one window; ``overflow``: it holds more than one query
    may return (a result cap), so ``items`` are not all of it."""

    items: Sequence[T]
    overflow: bool = False


class TimeWindows(Generic[T]):
    """Read ``[start, end)`` window by window; a window that overflows the vendor's result
    cap is cut in two and each half read instead, down to ``narrowest``.

    Times are numbers (epoch seconds or milliseconds, days: the connector's unit). Windows
    are half-open, so an item on a boundary belongs to exactly one window. A window no wider
    than ``narrowest`` that still overflows cannot be read whole by this vendor:
    :class:`NoProgress` says so rather than silently dropping items.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Awaitable[WindowAnswer[T]]],
        *,
        width: int,
        narrowest: int = 1,
        where: Where = ANYWHERE,
    ) -> None:
        if width < 1 or narrowest < 1:
            raise ValueError("TimeWindows needs positive widths")
        self._fetch = fetch
        self._width = width
        self._narrowest = narrowest
        self._where = where
        self.queries = 0

    async def pages(self, start: int, end: int) -> AsyncIterator[Page[T, int]]:
        """One page per window read whole, oldest first; ``following`` is where the next
        window starts (None after the last): everything before it has been read."""
        lower = start
        while lower < end:
            upper = min(lower + self._width, end)
            async for items, reached in self._window(lower, upper):
                yield Page(items=items, following=reached if reached < end else None)
            lower = upper

    async def _window(self, lower: int, upper: int) -> AsyncIterator[tuple[Sequence[T], int]]:
        pending = [(lower, upper)]
        while pending:
            low, high = pending.pop()
            self.queries += 1
            answer = await self._fetch(low, high)
            if not answer.overflow:
                yield answer.items, high
                continue
            if high - low <= self._narrowest:
                raise self._where.stuck(
                    f"more items between {low} and {high} than one query returns, and the "
                    "window cannot be cut any finer"
                )
            middle = low + (high - low) // 2
            pending += [(middle, high), (low, middle)]  # the earlier half is read first
