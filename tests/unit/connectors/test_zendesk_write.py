"""Zendesk target writes: update_many jobs polled to completion, per-record results, read-back,
expired job statuses, TooManyJobs, and the single-PUT fallback when bulk updates are refused."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.base import RecordChange, RecordRef
from tests.unit.connectors.test_zendesk import BASE, Sleeps, make_target, org, token_env, user

pytestmark = pytest.mark.anyio
__all__ = ["token_env"]  # the autouse fixture that puts the API token in the environment

ORG_UPDATE = f"{BASE}/api/v2/organizations/update_many.json"
ORG_SHOW = f"{BASE}/api/v2/organizations/show_many.json"
USER_UPDATE = f"{BASE}/api/v2/users/update_many.json"
USER_SHOW = f"{BASE}/api/v2/users/show_many.json"
JOB = "8b726e606741012ffc2d782bcb7848fe"
JOB_URL = f"{BASE}/api/v2/job_statuses/{JOB}.json"
JOBS_URL = f"{BASE}/api/v2/job_statuses/show_many.json"


def change(kind: str, record_id: str, **fields: Any) -> RecordChange:
    """A change; ``org__x`` stands for ``organization_fields.x``, ``user__x`` for user_fields."""
    paths = {
        k.replace("org__", "organization_fields.").replace("user__", "user_fields."): v
        for k, v in fields.items()
    }
    return RecordChange(ref=RecordRef(kind=kind, id=record_id), fields=paths)


def _status(status: str, results: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {"id": JOB, "url": JOB_URL, "status": status, "total": 2, "results": results}


def job(status: str, results: list[dict[str, Any]] | None = None) -> httpx.Response:
    """update_many's answer: the queued (or already finished) job."""
    return httpx.Response(200, json={"job_status": _status(status, results)})


def polled(status: str, results: list[dict[str, Any]] | None = None) -> httpx.Response:
    """Show Many Job Statuses' answer about that job."""
    return httpx.Response(200, json={"job_statuses": [_status(status, results)]})


def updated(record_id: int) -> dict[str, Any]:
    return {"id": record_id, "index": 0, "action": "update", "success": True, "status": "Updated"}


def shown(*rows: dict[str, Any], kind: str = "organizations") -> httpx.Response:
    return httpx.Response(200, json={kind: list(rows)})


async def test_write_queues_one_update_many_job_polls_it_and_returns_the_sent_values(
    respx_mock: respx.MockRouter,
) -> None:
    submit = respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    poll = respx_mock.get(JOBS_URL).mock(
        side_effect=[polled("working"), polled("completed", [updated(1), updated(2)])]
    )
    read_back = respx_mock.get(ORG_SHOW).mock(return_value=shown())
    sleeps = Sleeps()
    results = await make_target(sleeps).write(
        [
            change(
                "organization",
                "1",
                notes="VIP\n[deal] 15%",
                org__special_discount=Decimal("15.0"),
                org__terms_valid_until=date(2027, 1, 31),
            ),
            change("organization", "2", notes="note two"),
        ]
    )
    sent = json.loads(submit.calls.last.request.content)
    assert sent == {
        "organizations": [
            {
                "id": 1,
                "notes": "VIP\n[deal] 15%",
                "organization_fields": {"special_discount": 15, "terms_valid_until": "2027-01-31"},
            },
            {"id": 2, "notes": "note two"},
        ]
    }
    assert poll.call_count == 2
    assert sleeps.calls[:2] == pytest.approx([1.0, 0.25], abs=0.01), "job_seconds, then short"
    assert [r.ok for r in results] == [True, True]
    assert results[0].fields == {
        "notes": "VIP\n[deal] 15%",
        "organization_fields.special_discount": 15,
        "organization_fields.terms_valid_until": "2027-01-31",
    }, "records the job reported Updated hold what was sent"
    assert not read_back.called, "no read-back when the job reports every record"


async def test_the_first_poll_of_a_job_waits_about_as_long_as_the_last_job_took(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    polls = respx_mock.get(JOBS_URL).mock(
        side_effect=[
            polled("working"),
            polled("working"),
            polled("completed", [updated(1)]),
            polled("completed", [updated(1)]),
        ]
    )
    sleeps = Sleeps()
    target = make_target(sleeps, job_seconds=0.5)
    await target.write([change("organization", "1", notes="one")])
    assert sleeps.calls == pytest.approx([0.5, 0.25, 0.5], abs=0.01), "job_seconds, then back-off"
    await target.write([change("organization", "1", notes="two")])
    # the first job was pending at 0.75 s and done at 1.25 s: it finished in between
    assert sleeps.calls[-1] == pytest.approx(1.0, abs=0.05), "waits the last job's likely time"
    assert polls.call_count == 4, "so the second job needed one poll"


async def test_a_poll_the_budget_held_back_does_not_lengthen_the_next_jobs_wait(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    target = make_target(sleeps, job_seconds=0.5)
    gate = target._api.pacing.gate  # the account's per-minute budget

    done = polled("completed", [updated(1)])
    answers = [polled("working"), done, done]  # job one: working, done; job two: done

    def poll(_request: httpx.Request) -> httpx.Response:
        if len(answers) == 3:
            gate.block_for(30.0)  # the minute's budget is spent: the next poll waits 30 s
        return answers.pop(0)

    respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    respx_mock.get(JOBS_URL).mock(side_effect=poll)
    await target.write([change("organization", "1", notes="one")])
    assert 30.0 in [round(s) for s in sleeps.calls], "premise: the second poll was held 30 s"
    await target.write([change("organization", "1", notes="two")])
    # pending at 0.5 s, done when asked at 0.75 s (answered 30 s later): about 0.6 s
    assert sleeps.calls[-1] < 1.0, "the next job is polled after the job's time, not the hold"


async def test_jobs_done_at_the_first_poll_shorten_the_next_wait(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    respx_mock.get(JOBS_URL).mock(
        side_effect=[polled("working"), polled("working"), polled("completed", [updated(1)])]
        + [polled("completed", [updated(1)])] * 3
    )
    sleeps = Sleeps()
    target = make_target(sleeps)
    for note in ("one", "two", "three", "four"):
        await target.write([change("organization", "1", notes=note)])
    first_polls = [s for s in sleeps.calls if s > 0.3][-3:]
    assert first_polls[0] > first_polls[1] > first_polls[2], "the estimate comes down again"


async def test_jobs_open_at_once_are_polled_together_in_one_request(
    respx_mock: respx.MockRouter,
) -> None:
    queued = iter(["job-a", "job-b"])
    records = {"job-a": 1, "job-b": 2}
    asked: list[list[str]] = []

    def submit(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"job_status": {"id": next(queued), "status": "queued"}})

    def statuses(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["ids"].split(",")
        asked.append(sorted(ids))
        done = [{"id": i, "status": "completed", "results": [updated(records[i])]} for i in ids]
        return httpx.Response(200, json={"job_statuses": done})

    respx_mock.put(ORG_UPDATE).mock(side_effect=submit)
    respx_mock.get(JOBS_URL).mock(side_effect=statuses)
    target = make_target(Sleeps())
    first, second = await asyncio.gather(
        target.write([change("organization", "1", notes="one")]),
        target.write([change("organization", "2", notes="two")]),
    )
    assert asked == [["job-a", "job-b"]], "one status request answered for both jobs"
    assert [first[0].ok, second[0].ok] == [True, True]


async def test_a_failed_record_in_the_job_fails_alone_with_the_field_named(
    respx_mock: respx.MockRouter,
) -> None:
    failed = {
        "id": 2,
        "index": 1,
        "status": "Failed",
        "success": False,
        "error": "RecordInvalid",
        "details": "Payment terms: 'net90' is not a valid option (net30, net45, net60)",
    }
    respx_mock.put(ORG_UPDATE).mock(return_value=job("completed", [updated(1), failed]))
    respx_mock.get(ORG_SHOW).mock(return_value=shown(org(1, notes="ok"), org(2)))
    results = await make_target().write(
        [
            change("organization", "1", notes="ok"),
            change("organization", "2", org__payment_terms="net90"),
        ]
    )
    assert results[0].ok
    assert not results[1].ok
    assert results[1].error is not None
    assert "not a valid option" in results[1].error
    assert "organization_fields.payment_terms" in results[1].error


@pytest.mark.parametrize("error", [True, 422, ["RecordInvalid"]])
async def test_a_failed_result_whose_error_is_not_text_fails_its_record_alone(
    respx_mock: respx.MockRouter, error: object
) -> None:
    odd = {"id": 2, "index": 1, "status": "Failed", "success": False, "error": error}
    respx_mock.put(ORG_UPDATE).mock(return_value=job("completed", [updated(1), odd]))
    respx_mock.get(ORG_SHOW).mock(return_value=shown(org(1, notes="ok"), org(2)))
    results = await make_target().write(
        [change("organization", "1", notes="ok"), change("organization", "2", notes="x")]
    )
    assert results[0].ok
    assert not results[1].ok
    assert results[1].error is not None
    assert results[1].error.startswith(str(error))


async def test_a_record_missing_at_read_back_is_reported_not_found(
    respx_mock: respx.MockRouter,
) -> None:
    missing = {"id": 9, "index": 0, "status": "Failed", "error": "RecordNotFound"}
    respx_mock.put(ORG_UPDATE).mock(return_value=job("completed", [missing]))
    respx_mock.get(ORG_SHOW).mock(return_value=shown())
    (result,) = await make_target().write([change("organization", "9", notes="x")])
    assert not result.ok
    assert result.error == "organization 9 not found in Zendesk (deleted or merged?)"


async def test_a_read_back_row_that_is_not_an_object_counts_as_no_record(
    respx_mock: respx.MockRouter,
) -> None:
    """show_many answers rows as sent (the readers report one that is not an object); the
    read-back that decides a write whose job status expired reads past it: the record it
    cannot find is not found, the other is decided as usual."""
    respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    respx_mock.get(JOBS_URL).mock(return_value=httpx.Response(200, json={"job_statuses": []}))
    rows = ["organization 1", org(2, notes="new")]
    respx_mock.get(ORG_SHOW).mock(return_value=httpx.Response(200, json={"organizations": rows}))
    results = await make_target().write(
        [change("organization", "1", notes="new"), change("organization", "2", notes="new")]
    )
    assert [r.ok for r in results] == [False, True]
    assert results[0].error == "organization 1 not found in Zendesk (deleted or merged?)"


async def test_an_expired_job_status_is_decided_per_record_by_reading_back(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    # statuses live about an hour: an expired one is simply missing from the answer
    respx_mock.get(JOBS_URL).mock(return_value=httpx.Response(200, json={"job_statuses": []}))
    respx_mock.get(ORG_SHOW).mock(return_value=shown(org(1, notes="new"), org(2, notes="old")))
    results = await make_target().write(
        [change("organization", "1", notes="new"), change("organization", "2", notes="newer")]
    )
    assert results[0].ok
    assert not results[1].ok
    assert "expired" in (results[1].error or "")


async def test_dates_are_reported_as_the_day_zendesk_reads_them_back_as(
    respx_mock: respx.MockRouter,
) -> None:
    # Zendesk prints a date field as a midnight-UTC timestamp ("2018-11-04T00:00:00+00:00" in
    # the Organizations API examples); a write and the next read must give the same value.
    respx_mock.put(ORG_UPDATE).mock(return_value=job("completed", [updated(1)]))
    printed = {"terms_valid_until": "2027-01-31T00:00:00+00:00"}
    respx_mock.get(ORG_SHOW).mock(return_value=shown(org(1, organization_fields=printed)))
    target = make_target()
    (result,) = await target.write(
        [change("organization", "1", org__terms_valid_until="2027-01-31T00:00:00Z")]
    )
    (after,) = await target.read([RecordRef(kind="organization", id="1")])
    path = "organization_fields.terms_valid_until"
    assert result.fields == {path: "2027-01-31"}
    assert after.fields[path] == "2027-01-31"


async def test_a_read_back_holding_the_printed_date_confirms_the_written_day(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(ORG_UPDATE).mock(return_value=job("queued"))
    respx_mock.get(JOBS_URL).mock(return_value=httpx.Response(200, json={"job_statuses": []}))
    printed = {"terms_valid_until": "2027-01-31T00:00:00+00:00"}
    respx_mock.get(ORG_SHOW).mock(
        return_value=shown(org(1, notes="n", organization_fields=printed))
    )
    (result,) = await make_target().write(
        [change("organization", "1", notes="n", org__terms_valid_until=date(2027, 1, 31))]
    )
    assert result.ok, result.error
    assert result.fields == {"notes": "n", "organization_fields.terms_valid_until": "2027-01-31"}


async def test_text_that_only_looks_like_a_date_is_reported_as_sent(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(ORG_UPDATE).mock(return_value=job("completed", [updated(1)]))
    (result,) = await make_target().write(
        [
            change(
                "organization",
                "1",
                notes="2027-01-31T00:00:00Z",
                org__sla_promise="2027-01-31T09:00:00Z",
            )
        ]
    )
    assert result.fields == {
        "notes": "2027-01-31T00:00:00Z",
        "organization_fields.sla_promise": "2027-01-31T09:00:00Z",
    }, "only custom fields in the printed midnight-UTC form are dates"


async def test_too_many_jobs_is_waited_out_and_the_job_submitted_again(
    respx_mock: respx.MockRouter,
) -> None:
    too_many = httpx.Response(
        429,
        json={
            "error": "TooManyJobs",
            "description": "Number of allowed concurrent job_status in queue exceeded",
            "current_job_ids": ["a", "b"],
        },
    )
    submit = respx_mock.put(ORG_UPDATE).mock(side_effect=[too_many, job("completed", [updated(1)])])
    respx_mock.get(ORG_SHOW).mock(return_value=shown(org(1, notes="x")))
    sleeps = Sleeps()
    (result,) = await make_target(sleeps).write([change("organization", "1", notes="x")])
    assert result.ok
    assert submit.call_count == 2
    assert max(sleeps.calls) >= 10


async def test_bulk_403_falls_back_to_single_puts_logs_once_and_shows_a_notice(
    respx_mock: respx.MockRouter,
) -> None:
    forbidden = httpx.Response(
        403, json={"error": "Forbidden", "description": "You do not have access to this page."}
    )
    bulk = respx_mock.put(USER_UPDATE).mock(return_value=forbidden)
    singles = [
        respx_mock.put(f"{BASE}/api/v2/users/{n}.json").mock(
            return_value=httpx.Response(200, json={"user": user(n, f"u{n}@x.example", notes="n")})
        )
        for n in (7, 8)
    ]
    sleeps = Sleeps()
    target = make_target(sleeps)
    with capture_logs() as logs:
        first = await target.write([change("user", "7", notes="n")])
        second = await target.write([change("user", "8", notes="n")])
    assert [r.ok for r in first + second] == [True, True]
    assert first[0].fields == {"notes": "n"}
    assert json.loads(singles[0].calls.last.request.content) == {"user": {"notes": "n"}}
    assert bulk.call_count == 1, "once refused, bulk is not tried again"
    warnings = [e for e in logs if e["event"] == "zendesk_bulk_update_refused"]
    assert len(warnings) == 1
    assert any("refused bulk updates of users" in n for n in target.notices())


async def test_single_put_validation_error_names_the_field_and_the_value_sent(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(USER_UPDATE).mock(return_value=httpx.Response(403, json={"error": "Forbidden"}))
    invalid = {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {
            "terms_valid_until": [
                {"description": "Terms valid until: is not a date", "error": "InvalidValue"}
            ]
        },
    }
    respx_mock.put(f"{BASE}/api/v2/users/7.json").mock(
        return_value=httpx.Response(422, json=invalid)
    )
    (result,) = await make_target().write([change("user", "7", user__terms_valid_until="soon")])
    assert not result.ok
    assert result.error == (
        "Record validation errors: terms_valid_until: Terms valid until: is not a date "
        "(InvalidValue) (sent user_fields.terms_valid_until = 'soon')"
    )


async def test_unwritable_paths_and_unknown_kinds_fail_without_a_request(
    respx_mock: respx.MockRouter,
) -> None:
    results = await make_target().write(
        [
            change("organization", "1", name="Renamed"),
            RecordChange(ref=RecordRef(kind="company", id="1"), fields={"notes": "x"}),
        ]
    )
    assert [r.ok for r in results] == [False, False]
    assert "no writable field 'name'" in (results[0].error or "")
    assert not respx_mock.calls


async def test_150_changes_go_in_two_jobs_of_at_most_100_and_results_keep_their_order(
    respx_mock: respx.MockRouter,
) -> None:
    def submitted(request: httpx.Request) -> httpx.Response:
        rows = json.loads(request.content)["organizations"]
        return job("completed", [updated(r["id"]) | {"index": i} for i, r in enumerate(rows)])

    def show(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["ids"].split(",")
        return shown(*(org(int(i), notes=f"n{i}") for i in ids))

    submit = respx_mock.put(ORG_UPDATE).mock(side_effect=submitted)
    respx_mock.get(ORG_SHOW).mock(side_effect=show)
    changes = [change("organization", str(n), notes=f"n{n}") for n in range(1, 151)]
    results = await make_target().write(changes)
    sizes = [len(json.loads(c.request.content)["organizations"]) for c in submit.calls]
    assert sizes == [100, 50]
    assert [r.ref.id for r in results] == [str(n) for n in range(1, 151)]
    assert all(r.ok for r in results)
