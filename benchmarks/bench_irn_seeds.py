"""IRNet's share of the spread: on the CAMs and relations of a finished run, train IRNet again with
other seeds (and other settings), then redo the walk, the labels, their evaluation and the oracle
diagnostics. What moves here moves with IRNet's training alone: the CAM network, its maps and
the mined relations are the run's own, bit for bit (the CAM-only baseline must not move).

Each variant runs in a copy of the run folder (results/<run>_<name>_s<seed>/, the supervised
models left out) with ``--forcerun train_irn --rerun-triggers mtime``: the copied upstream files
count as they are, train_irn and what follows it rerun. A finished variant is not run again.
``--from-rule random_walk`` keeps the run's IRNet too and redoes the walk onward (give the run's
own irn.seed: a variant of walk settings on one trained IRNet); ``--from-rule mine_relations``
redoes the relations as well (a variant of relations.*); ``--from-rule make_labels`` keeps the
walk too (a variant of labels.*). ``--whole`` goes on to the supervised models and the run's
summary.json, whose Mask R-CNN and DeepLab numbers join the variant's row.
A variant runs in the tree that made its run: a plan that would redo the CAM network, its maps
or the dataset lists (upstream files newer than the run, e.g. a run copied from another tree)
stops before anything runs.

Usage: python benchmarks/bench_irn_seeds.py results/<run>.yaml NAME [--seeds 1 2] [--set irn.epochs=8 ...]
                                            [--from-rule train_irn] [--whole]
       (with --set, list every seed: the run itself counts only for its own settings)
       (the config file of a finished run, e.g. one of bench_spread's; about 15 minutes per variant
       on 2 cores for the default toy run)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_spread import numbers as summary_numbers
from common import ROOT, apply_changes, copy_run, planned, run_snakemake, snakemake_cmd, update_results

from irn_core.layout import summary_name

TARGETS = ("labels/eval.json", "labels/diagnostics.json")
WHOLE = f"{summary_name('all')}.json"  # the whole pipeline's summary (--whole)
SUPERVISED = ("maskrcnn", "deeplab")  # the summary numbers --whole adds
KEPT = ("prepare_toy", "check_dataset", "train_cam", "make_cam")  # never redone for a variant


def variant(base: dict, name: str, seed: int, changes: list[str]) -> dict:
    cfg = json.loads(json.dumps(base))
    cfg["run_name"] = f"{base['run_name']}_{name}_s{seed}"
    cfg["irn"]["seed"] = seed
    return apply_changes(cfg, changes)


def numbers(run: Path, with_diagnostics: bool = True) -> dict[str, float]:
    """The label and diagnostics figures of a run folder."""
    labels = json.loads((run / "labels/eval.json").read_text())
    diagnostics = json.loads((run / "labels/diagnostics.json").read_text()) if with_diagnostics else {}
    out = {"sem_pseudo.miou": labels["sem_pseudo"]["miou"]}
    for section in ("ins_pseudo", "baseline_cc", "baseline_sem_cc"):
        out[f"{section}.map50"] = labels[section]["map50"]
    for k in ("map25", "map70", "map75"):  # the loose and strict overlaps, where a run's eval has them
        if k in labels["ins_pseudo"]:
            out[f"ins_pseudo.{k}"] = labels["ins_pseudo"][k]
    for kind, row in diagnostics.items():
        if isinstance(row, dict) and "map50" in row:
            out[f"diagnostics.{kind}.map50"] = row["map50"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="the config file of a finished run")
    ap.add_argument("name", help="the variant's name (run folders; section irn_seeds_<run>_NAME)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", nargs="*", default=[], help="section.key=value changes (YAML values)")
    ap.add_argument("--from-rule", default="train_irn", help="the first rule redone (default: train_irn)")
    ap.add_argument("--no-diagnostics", action="store_true", help="the labels and their evaluation only")
    ap.add_argument("--whole", action="store_true", help="go on to the supervised models (the run's summary.json)")
    ap.add_argument("-n", "--dry-run", action="store_true", help="copy and plan only")
    args = ap.parse_args()
    base = yaml.safe_load(Path(args.config).read_text())
    source = ROOT / "results" / base["run_name"]
    needed = TARGETS[: 1 if args.no_diagnostics else 2]  # a variant made without diagnostics can be a source too
    if not all((source / t).is_file() for t in needed):
        sys.exit(f"{source}: not a finished run ({' and '.join(needed)} needed)")
    wanted = needed + ((WHOLE,) if args.whole else ())
    # the run itself is one of the seeds when no setting changes
    own = {"irn.seed": base["irn"]["seed"], "numbers": numbers(source, not args.no_diagnostics)}
    rows = {} if args.set else {base["run_name"]: own}  # the same keys as the variants'
    for seed in args.seeds:
        cfg = variant(base, args.name, seed, args.set)
        run = ROOT / "results" / cfg["run_name"]
        done = run / "irn_seed.done"
        if not done.is_file() or not all((run / t).is_file() for t in wanted):
            copy_run(source, run, remove=(TARGETS[1],))  # the source's diagnostics are not the variant's
            path = ROOT / "results" / f"{cfg['run_name']}.yaml"
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            # a fresh copy: the markers a killed attempt left in .snakemake/incomplete must not stop it
            flags = ["--forcerun", args.from_rule, "--rerun-triggers", "mtime", "--rerun-incomplete"]
            cmd = snakemake_cmd(
                ROOT, path, *[f"results/{cfg['run_name']}/{t}" for t in wanted], *flags, cores=cfg["threads"]
            )
            plan = run_snakemake(cmd + ["-n"], cfg["run_name"])
            # --whole checks the val list too (a check the run did not need), which changes no file a variant keeps
            redone = (set(KEPT) - ({"check_dataset"} if args.whole else set())) & set(planned(plan))
            if redone:  # with mtime triggers, upstream files newer than the copied run replan it
                sys.exit(
                    f"{cfg['run_name']}: would redo {', '.join(sorted(redone))}, which a variant keeps; "
                    f"files upstream of {source} are newer in this tree: run the variant where the run was made"
                )
            if args.dry_run:
                print(cfg["run_name"], planned(plan))
                continue
            run_snakemake(cmd, cfg["run_name"])
            done.write_text("")
        rows[cfg["run_name"]] = {"irn.seed": seed, "numbers": numbers(run, not args.no_diagnostics)}
        if args.whole:
            supervised = summary_numbers(json.loads((run / WHOLE).read_text()))
            rows[cfg["run_name"]]["numbers"] |= {k: v for k, v in supervised.items() if k.startswith(SUPERVISED)}
        print(cfg["run_name"], json.dumps(rows[cfg["run_name"]]["numbers"]), flush=True)
    if args.dry_run:
        return
    keys = list(dict.fromkeys(k for r in rows.values() for k in r["numbers"]))
    print("\n| key | " + " | ".join(f"seed {r['irn.seed']}" for r in rows.values()) + " | range |")
    print("|---|" + "---|" * (len(rows) + 1))
    for key in keys:
        values = [r["numbers"][key] for r in rows.values()]
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| `{key}` | {cells} | {max(values) - min(values):.3f} |")
    update_results(
        f"irn_seeds_{base['run_name']}_{args.name}",  # the run's name too: copies may reuse NAME
        {"config": args.config, "changes": args.set, "from_rule": args.from_rule, "runs": rows},
    )


if __name__ == "__main__":
    main()
