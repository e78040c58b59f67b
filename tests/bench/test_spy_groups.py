"""bench.spy_groups groups a py-spy profile's samples by dealbridge's own frames."""

from __future__ import annotations

from pathlib import Path

from bench.spy_groups import by_path, shares, under

RUN = "main (bench/local_overhead.py:169);run_one (bench/local_overhead.py:150)"
LOOP = "run (asyncio/runners.py:118);run (sync_jobs/app/event_loop.py:60)"
PLAN = "_plan (sync_jobs/run/stage2.py:354);plan_customer (sync_jobs/domain/planner.py:169)"
HTTP = "_read (sync_jobs/run/stage1.py:300);send (httpx/_client.py:1629)"


def test_run_samples_group_by_our_frames_naming_the_library_below_setup_left_out(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(
        f"{RUN};{LOOP};{PLAN} 7\n"
        f"{RUN};{LOOP};{PLAN};render (jinja2/environment.py:1293) 2\n"
        f"{RUN};{LOOP};{HTTP} 5\n"
        "<module> (sync_jobs/store/tables.py:10) 9\n"  # an import, outside the run
        f"{RUN};measure (bench/local_overhead.py:113);credentials (sandbox/world.py:236) 4\n",
        encoding="utf-8",
    )

    groups = by_path(raw, depth=2)

    plan = "_plan@sync_jobs/run/stage2.py > plan_customer@sync_jobs/domain/planner.py []"
    assert groups == {plan: 9, "_read@sync_jobs/run/stage1.py [http]": 5}


def test_under_a_frame_the_samples_group_by_what_it_called(tmp_path: Path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(
        f"{RUN};{LOOP};{PLAN};render (jinja2/environment.py:1293) 2\n{RUN};{LOOP};{PLAN} 7\n",
        encoding="utf-8",
    )

    assert under(raw, "plan_customer", depth=1) == {"render@jinja2/environment.py": 2, "": 7}


def test_shares_say_whose_code_the_cpu_ran_and_count_waits_apart(tmp_path: Path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(
        f"{RUN};{LOOP};{PLAN} 6\n"  # our Python itself
        f"{RUN};{LOOP};{PLAN};PyUnicode_Join (libpython3.11.so.1.0) 3\n"  # C our code calls
        f"{RUN};{LOOP};{HTTP};_send (httpcore/_async/connection.py:101) 4\n"
        f"{RUN};{LOOP};{HTTP};recv (httpcore/_backends/anyio.py:30);memcpy (libc.so.6) 2\n"
        f"{RUN};{LOOP};uv_run (loop.c:1);epoll_pwait (libc.so.6) 8\n"  # idle: not CPU
        "<module> (sync_jobs/store/tables.py:10) 9\n",  # an import, outside the run
        encoding="utf-8",
    )

    owners, waits = shares(raw)

    assert owners == {"ours: Python": 6, "ours: C our Python calls": 3, "httpcore": 6}
    assert waits == 8
