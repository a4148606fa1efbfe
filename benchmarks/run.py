"""Run every benchmark and print one table of medians and ratios.

    python benchmarks/run.py            # all benchmarks, full size
    python benchmarks/run.py --quick    # smaller inputs, fewer repeats (a smoke run)
    python benchmarks/run.py -k prune   # only modules whose name contains "prune"

Results are also written to benchmarks/.results/latest.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

from harness import Row  # noqa: E402


def _fmt_s(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    parser.add_argument("-k", default="", help="only benchmark modules whose name contains this")
    args = parser.parse_args()

    rows: list[Row] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if args.k not in path.stem:
            continue
        print(f"# {path.stem} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(path.stem)
        rows.extend(module.run(quick=args.quick))

    header = ("benchmark", "case", "median", "baseline", "baseline median", "ratio", "goal", "met")
    table = [header]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "NO")
        table.append(
            (
                r.benchmark,
                r.case,
                _fmt_s(r.median_s),
                r.baseline,
                _fmt_s(r.baseline_s),
                f"{r.ratio:.3f}x",
                r.goal,
                met,
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    out = HERE / ".results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
