"""The contract every connector keeps, checked against its own simulator.

Parametrized over every registered connector kind whose spec names a ``contract_harness`` (a
seeded simulator, the config pointing at it, and what throttling and auth failure look like at
that vendor). A new connector gets these checks for free.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from connectors.base import (
    Cursor,
    DealQuery,
    IdentityKey,
    RecordChange,
    SalesSource,
    ServiceTarget,
)
from connectors.errors import AuthError, PermanentError
from connectors.registry import get_spec, known_kinds, load_object
from connectors.settings import ConnectorOptions
from sandbox.harness import ContractHarness

pytestmark = pytest.mark.anyio


def _kinds(role: str) -> list[str]:
    found = []
    for kind in known_kinds():
        try:
            spec = get_spec(kind)
        except LookupError:
            continue
        if spec.role == role and spec.contract_harness is not None:
            found.append(kind)
    return found


async def _no_sleep(_seconds: float) -> None:
    return None


def _harness(kind: str, monkeypatch: pytest.MonkeyPatch) -> ContractHarness:
    reference = get_spec(kind).contract_harness
    assert reference is not None, f"{kind} names no contract harness"
    harness: ContractHarness = load_object(reference)()
    for name, value in harness.env.items():
        monkeypatch.setenv(name, value)
    return harness


def _build(kind: str, harness: ContractHarness) -> Any:
    spec = get_spec(kind)
    config = spec.config_model.model_validate(harness.config)
    transport = httpx.ASGITransport(app=harness.app) if harness.app is not None else None
    return spec.factory(kind, config, ConnectorOptions(transport=transport, sleep=_no_sleep))


@pytest.fixture(params=_kinds("source"))
async def source(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SalesSource, ContractHarness]]:
    harness = _harness(request.param, monkeypatch)
    connector = _build(request.param, harness)
    yield connector, harness
    await connector.aclose()


@pytest.fixture(params=_kinds("target"))
async def target(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ServiceTarget, ContractHarness]]:
    harness = _harness(request.param, monkeypatch)
    connector = _build(request.param, harness)
    yield connector, harness
    await connector.aclose()


async def _all_deal_ids(
    src: SalesSource, query: DealQuery, since: Cursor | None
) -> tuple[list[str], list[Cursor]]:
    ids, checkpoints = [], []
    async for page in src.changed_deals(query, since):
        ids += [d.id for d in page.deals]
        checkpoints.append(page.checkpoint)
    return ids, checkpoints


async def test_source_pages_to_the_end_and_resumes_without_skipping_equal_timestamps(
    source: tuple[SalesSource, ContractHarness],
) -> None:
    src, harness = source
    assert harness.seed_equal_timestamps is not None
    harness.seed_equal_timestamps(3 * harness.page_size + 1)
    catalog = await src.field_catalog()
    query = DealQuery(fields=tuple(sorted({f.path for f in catalog})[:5]))
    everything, checkpoints = await _all_deal_ids(src, query, None)
    assert len(everything) == len(set(everything)), "a deal was yielded twice in one read"
    assert len(checkpoints) >= 2, "the harness seeds more than one page"
    # Resume from every intermediate checkpoint: what was read before plus what is read after
    # must cover every deal, even though many share one modification time.
    for index, checkpoint in enumerate(checkpoints[:-1]):
        before = set(await _ids_up_to(src, query, index))
        after, _ = await _all_deal_ids(src, query, checkpoint)
        assert before | set(after) >= set(everything)


async def _ids_up_to(src: SalesSource, query: DealQuery, last_page: int) -> list[str]:
    ids: list[str] = []
    page_no = 0
    async for page in src.changed_deals(query, None):
        ids += [d.id for d in page.deals]
        if page_no == last_page:
            break
        page_no += 1
    return ids


async def test_target_indexes_every_customer_across_pages(
    target: tuple[ServiceTarget, ContractHarness],
) -> None:
    tgt, harness = target
    assert harness.seed_customers is not None
    harness.seed_customers(3 * harness.page_size + 1)
    seen = []
    async for page in tgt.customers(None):
        seen += [r.ref.key for r in page.records]
    assert len(seen) == len(set(seen))
    assert len(seen) >= 3 * harness.page_size + 1


async def test_source_field_catalog_lists_readable_paths(
    source: tuple[SalesSource, ContractHarness],
) -> None:
    catalog = await source[0].field_catalog()
    assert catalog
    assert len({f.path for f in catalog}) == len(catalog), "paths are unique"


async def test_target_field_catalog_lists_writable_fields(
    target: tuple[ServiceTarget, ContractHarness],
) -> None:
    assert [f for f in await target[0].field_catalog() if f.writable]


async def _touch(connector: Any) -> None:
    if isinstance(connector, SalesSource):
        async for _page in connector.changed_deals(DealQuery(), None):
            break
    else:
        async for _page in connector.customers(None):
            break


async def _throttle_is_waited_out(connector: Any, harness: ContractHarness) -> None:
    if harness.throttle_fault is None:
        pytest.skip(f"{harness.kind} is not an HTTP vendor")
    harness.controls.inject(harness.throttle_fault)
    await _touch(connector)
    assert harness.throttle_fault.times == 0, "the throttle answer was served and survived"


async def _auth_refusal_is_for_an_admin(connector: Any, harness: ContractHarness) -> None:
    if harness.auth_fault is None:
        pytest.skip(f"{harness.kind} is not an HTTP vendor")
    harness.auth_fault.times = 1_000
    harness.controls.inject(harness.auth_fault)
    with pytest.raises(PermanentError) as caught:
        await _touch(connector)
    assert isinstance(caught.value, AuthError) or caught.value.who_acts == "admin"


async def _secrets_stay_out(connector: Any, harness: ContractHarness) -> None:
    text = ""
    with capture_logs() as logs:
        await _touch(connector)
        if harness.auth_fault is not None:
            harness.auth_fault.times = 1_000
            harness.controls.inject(harness.auth_fault)
            try:
                await _touch(connector)
            except PermanentError as exc:
                text = str(exc) + repr(exc.args)
    assert harness.secret not in repr(logs)
    assert harness.secret not in text


async def test_source_waits_out_a_throttle(source: tuple[SalesSource, ContractHarness]) -> None:
    await _throttle_is_waited_out(*source)


async def test_target_waits_out_a_throttle(target: tuple[ServiceTarget, ContractHarness]) -> None:
    await _throttle_is_waited_out(*target)


async def test_source_auth_refusal_is_an_admin_problem(
    source: tuple[SalesSource, ContractHarness],
) -> None:
    await _auth_refusal_is_for_an_admin(*source)


async def test_target_auth_refusal_is_an_admin_problem(
    target: tuple[ServiceTarget, ContractHarness],
) -> None:
    await _auth_refusal_is_for_an_admin(*target)


async def test_source_leaks_no_secret(source: tuple[SalesSource, ContractHarness]) -> None:
    await _secrets_stay_out(*source)


async def test_target_leaks_no_secret(target: tuple[ServiceTarget, ContractHarness]) -> None:
    await _secrets_stay_out(*target)


async def test_target_checks_reads_writes_and_looks_up_a_record(
    target: tuple[ServiceTarget, ContractHarness],
) -> None:
    """What stage 2 and the lookups rely on: a healthy check, a record read back as indexed, a
    write whose reported values are what the next read returns, and a direct lookup by the
    external id the index holds."""
    tgt, harness = target
    assert harness.text_field is not None, f"{harness.kind}'s harness names no text field"
    assert harness.seed_customers is not None
    kind, field = harness.text_field
    harness.seed_customers(2)
    assert (await tgt.check()).ok
    indexed = [r async for page in tgt.customers(None) for r in page.records]
    record = next(r for r in indexed if r.ref.kind == kind and r.external_id)

    (read,) = await tgt.read([record.ref])
    assert (read.ref, read.name, read.external_id) == (record.ref, record.name, record.external_id)

    text = "Contract check: 10% off until 2027-06-30"
    (result,) = await tgt.write([RecordChange(ref=record.ref, fields={field: text})])
    assert result.ok, result.error
    (after,) = await tgt.read([record.ref])
    assert after.fields[field] == result.fields.get(field, text) == text

    assert record.external_id is not None
    key = IdentityKey(match="external_id", value=record.external_id.lower(), kind=kind)
    assert record.ref in [r.ref for r in await tgt.lookup([key])]
