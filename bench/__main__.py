"""``python -m bench [--quick] [--only NAME ...] [--out DIR]``: run the scenarios, write the
results table (results.md) and the throughput plot (throughput.png)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.freshness import freshness_with_webhooks
from bench.suite import SCENARIOS, Results, Sizes

HERE = Path(__file__).parent
ALL = {**SCENARIOS, "webhooks": freshness_with_webhooks}
"""The suite's scenarios, then freshness with webhooks (bench/freshness.py, issue 19)."""


def machine() -> str:
    """CPU, cores, memory, Python and OS of this run."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (
        f"{cpu}, {os.cpu_count()} cores, {pages / 2**30:.0f} GiB, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def write_table(results: Results, sizes: Sizes, command: str, out: Path) -> Path:
    """results.md: the table, then how it was measured."""
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"Command: `{command}`. Sizes: {sizes}.",
        "",
        "| scenario | figure | target | met |",
        "|---|---|---|---|",
    ]
    for row in results.rows:
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        lines.append(f"| {row.scenario} | {row.figure} | {row.target} | {met} |")
    lines += ["", "## How", ""] + [f"- {note}" for note in dict.fromkeys(results.notes)]
    lines += [
        "- Scenarios and sizes: bench/suite.py. Targets not met are explained, with a profile "
        "and a plan, in [analysis.md](analysis.md).",
    ]
    path = out / "results.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plot(results: Results, out: Path) -> Path | None:
    """throughput.png: achieved records/s against the rate-limit bound (needs matplotlib)."""
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    labels = [k for k in ("bound", "backfill", "local") if k in results.series]
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.bar(labels, [results.series[k] for k in labels], color=["#999", "#2a7", "#27a"])
    if "bound" in results.series:
        axes.axhline(
            results.series["bound"] * 0.95, color="#c33", linestyle="--", label="0.95 x bound"
        )
        axes.legend()
    axes.set_ylabel("records per second")
    axes.set_title("dealbridge throughput against Zendesk's rate-limit bound")
    figure.tight_layout()
    path = out / "throughput.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main() -> None:
    """Command line: see the module doc."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke sizes (CI)")
    parser.add_argument("--only", nargs="*", choices=sorted(ALL), default=None)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes()
    results = Results()
    for name in args.only or list(ALL):
        ALL[name](sizes, results)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + " ".join(sys.argv[1:])
    print(write_table(results, sizes, command.strip(), args.out))
    print(plot(results, args.out))


if __name__ == "__main__":
    main()
