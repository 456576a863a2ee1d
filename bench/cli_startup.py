"""Benchmark: how fast the CLI answers `paasops --help` and `paasops deploy --help`, against `import typer`.

Each of the three is run N times (default 9) in a fresh interpreter, interleaved so that a busy
moment on the machine falls on all three alike; the medians and the ratios to the bare typer
import are printed. Nothing is asserted: the numbers go to docs/benchmarks.md. The CLI is run as
`python -m paasops` with this checkout first on PYTHONPATH, so the tree measured is this one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "paasops --help": [sys.executable, "-m", "paasops", "--help"],
    "paasops deploy --help": [sys.executable, "-m", "paasops", "deploy", "--help"],
}
BASE = "python -c 'import typer'"


def once(argv: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run (output thrown away; a failure stops the bench)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=9, help="runs of each command (default 9)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "COLUMNS": "100"}
    for argv in RUNS.values():  # warm the disk cache and the .pyc files once, untimed
        once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in RUNS}
    for _ in range(args.runs):
        for name, argv in RUNS.items():
            times[name].append(once(argv, env))
    base = statistics.median(times[BASE])
    print(f"{args.runs} runs each, interleaved; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'max s':>7} {'x typer':>8}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<28} {median:>9.3f} {min(samples):>7.3f} {max(samples):>7.3f} {median / base:>8.2f}")


if __name__ == "__main__":
    main()
