"""Wall time of the demo command (`qs demo`) on a fresh QS_HOME, as a user would run it.

    .venv/bin/python benchmarks/bench_demo.py [--days 3]

Runs the CLI in a subprocess (so import costs count) against an empty temporary QS_HOME and
prints the wall time, the number of runs and the per-run average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--end", default="2026-11-20")
    args = parser.parse_args()
    qs = Path(sys.executable).parent / "qs"
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QS_", "DAGSTER_"))}
        env["QS_HOME"] = home
        started = time.perf_counter()
        proc = subprocess.run(
            [str(qs), "demo", "--days", str(args.days), "--end", args.end],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
    runs_line = next((ln for ln in proc.stdout.splitlines() if " runs in " in ln), "")
    print(f"qs demo --days {args.days} --end {args.end}: exit {proc.returncode}")
    print(f"  wall time        {wall:8.1f} s  (cores: {os.cpu_count()})")
    print(f"  {runs_line.strip()}")
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:])


if __name__ == "__main__":
    main()
