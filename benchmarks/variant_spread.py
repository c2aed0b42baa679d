"""The spread of one variant over several runs: the mean and range of every number of the rows of
bench_irn_seeds sections (``irn_seeds_<run>_<NAME>`` in benchmarks/results.json), one row per
run, as bench_spread reports the default runs. The sections are read as they are (merge a copy's
sections into this tree's results.json first); nothing runs.

Usage: python benchmarks/variant_spread.py OUT SECTION [SECTION ...]
       (writes section OUT: the table, and each row's numbers under its run name)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, spread_of, update_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the results.json section written")
    ap.add_argument("sections", nargs="+", help="bench_irn_seeds sections, one or more rows each")
    args = ap.parse_args()
    data = json.loads(RESULTS.read_text())
    missing = [s for s in args.sections if s not in data]
    if missing:
        sys.exit(f"{RESULTS}: no section {', '.join(missing)}")
    rows = {name: row["numbers"] for s in args.sections for name, row in data[s]["runs"].items()}
    keys = list(dict.fromkeys(k for numbers in rows.values() for k in numbers))
    table = {}
    for key in keys:
        values = [numbers[key] for numbers in rows.values() if key in numbers]
        table[key] = {**spread_of(values), "runs": len(values)}
    print("| key | mean | range (min - max) | width | runs |\n|---|---|---|---|---|")
    for key, t in table.items():
        print(f"| `{key}` | {t['mean']:.3f} | {t['min']:.3f} - {t['max']:.3f} | {t['range']:.3f} | {t['runs']} |")
    update_results(args.out, {"sections": args.sections, "table": table, "runs": rows})


if __name__ == "__main__":
    main()
