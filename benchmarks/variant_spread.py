"""The spread of one variant over several runs: the mean and range of every number of the rows of
bench_irn_seeds sections (``irn_seeds_<run>_<NAME>`` in benchmarks/results.json), one row per
run, as bench_spread reports the default runs. The sections are read as they are (merge a copy's
sections into this tree's results.json first); nothing runs.

A variant made from a later rule (``--from-rule``) has no numbers of the stages before it; with
``--upstream`` the runs it was made from (bench_spread sections) give the keys named by
``--upstream-keys``, which must be numbers of those earlier stages (e.g. ``cam.miou`` under a
variant made from the walk on), and which no variant row may have.

Usage: python benchmarks/variant_spread.py OUT SECTION [SECTION ...] [--upstream SECTION ... --upstream-keys KEY ...]
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
    ap.add_argument("--upstream", nargs="*", default=[], help="sections of the runs the variant was made from")
    ap.add_argument("--upstream-keys", nargs="*", default=[], help="the numbers taken from them")
    args = ap.parse_args()
    if bool(args.upstream) != bool(args.upstream_keys):
        sys.exit("--upstream and --upstream-keys go together")
    data = json.loads(RESULTS.read_text())
    missing = [s for s in args.sections + args.upstream if s not in data]
    if missing:
        sys.exit(f"{RESULTS}: no section {', '.join(missing)}")
    rows = {name: row["numbers"] for s in args.sections for name, row in data[s]["runs"].items()}
    own = {k for numbers in rows.values() for k in numbers} & set(args.upstream_keys)
    if own:
        sys.exit(f"the variant's rows have {', '.join(sorted(own))}: not upstream numbers")
    upstream = {
        name: {k: v for k, v in row["numbers"].items() if k in args.upstream_keys}
        for s in args.upstream
        for name, row in data[s]["runs"].items()
    }
    keys = list(dict.fromkeys(k for numbers in [*upstream.values(), *rows.values()] for k in numbers))
    table = {}
    for key in keys:
        values = [numbers[key] for numbers in [*upstream.values(), *rows.values()] if key in numbers]
        table[key] = {**spread_of(values), "runs": len(values)}
    print("| key | mean | range (min - max) | width | runs |\n|---|---|---|---|---|")
    for key, t in table.items():
        print(f"| `{key}` | {t['mean']:.3f} | {t['min']:.3f} - {t['max']:.3f} | {t['range']:.3f} | {t['runs']} |")
    section = {"sections": args.sections, "table": table, "runs": rows}
    if args.upstream:
        section.update(upstream=args.upstream, upstream_keys=args.upstream_keys, upstream_runs=upstream)
    update_results(args.out, section)


if __name__ == "__main__":
    main()
