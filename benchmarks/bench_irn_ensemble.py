"""Would averaging IRNets narrow the spread? A run's CAMs walked on the mean of the boundary maps
and displacement fields of several IRNets trained on them (the run's own and bench_irn_seeds
variants with other seeds), then labelled and evaluated as the pipeline does.

Each member needs its IRNet's maps, a temporary file of the workflow; make them once with
``snakemake ... --configfile results/<member>.yaml results/<member>/irn/irn_out.h5 --notemp`` in
the tree that made the member. Every member must stand on the run's CAMs (the same cam/cams.h5).
The ensemble runs in a copy of the run folder, results/<run>_<NAME>/ (the supervised models left
out), whose irn/irn_out.h5 is the members' mean; Snakemake redoes the walk onward
(``--forcerun random_walk --rerun-triggers mtime``), in the run's tree with its workflow, up to the
labels' evaluation and their COCO file (``bench_recipe.py`` trains a detector on it); the copied
diagnostics and summary, which are the run's, are removed.

Usage: python benchmarks/bench_irn_ensemble.py RUN MEMBER [MEMBER ...] --name NAME [--average boundary]
                                               [--set labels.crf=true ...]
       RUN and MEMBERs are run folders (results/<run_name>, in this tree or a copy; the run itself
       may be a member). ``--average boundary`` averages the boundary maps only and keeps the first
       member's displacement field (which places the instances' centres). ``--set`` changes the
       ensemble's config from the walk on (e.g. the labels' settings). About 2.5 minutes per
       ensemble on 2 cores for the default toy run. An ensemble folder made with the same members,
       averaging and changes is not made again (``bench_recipe.py`` trains a detector on its labels).
       Writes entry NAME of section ``irn_ensemble`` of benchmarks/results.json: each member's own
       labels (when evaluated) and the ensemble's.
       python benchmarks/bench_irn_ensemble.py --summary ENTRY [ENTRY ...] --name NAME
       The mean and range over those entries (one per run, e.g. each run's own IRNet with one more)
       of the first member's figures and of the ensemble's; entry NAME.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, apply_changes, copy_run, own_labels, run_snakemake, snakemake_cmd, spread_of, update_entry

TARGETS = ("labels/eval.json", "labels/ins_pseudo_coco.json")  # the latter for bench_recipe
GT_VAL = "maskrcnn/gt_val_coco.json"
STALE = ("labels/diagnostics.json", "labels/ins_pseudo_coco.json", "summary.json")


KEYS = ("sem_pseudo.miou", "ins_pseudo.map25", "ins_pseudo.map50", "ins_pseudo.map70", "ins_pseudo.map75")


def figures(labels: dict | None) -> dict | None:
    if labels is None:
        return None
    return {  # the keys a run's eval has (older ones lack map25)
        key: round(labels[section][name], 4)
        for key in KEYS
        for section, name in [key.split(".")]
        if name in labels.get(section, {})
    }


def mean_maps(members: list[Path], out: Path, keys: tuple[str, ...] = ("boundary", "disp")) -> None:
    """Write the members' mean of the maps ``keys`` per image to ``out`` (atomically), the other
    maps the first member's, with the first member's file attributes, a list of the members and
    the averaged keys."""
    tmp = out.with_name(out.name + ".tmp")
    with ExitStack() as opened:
        files = [opened.enter_context(h5py.File(m / "irn/irn_out.h5", "r")) for m in members]
        opened.callback(tmp.unlink, missing_ok=True)  # a failed write leaves no litter
        ids = sorted(files[0])
        for m, f in zip(members, files):
            if sorted(f) != ids:
                sys.exit(f"{m}/irn/irn_out.h5: other images than {members[0]}/irn/irn_out.h5")
        with h5py.File(tmp, "w") as dst:
            dst.attrs.update(dict(files[0].attrs))
            dst.attrs["ensemble_members"] = json.dumps([str(m) for m in members])
            dst.attrs["ensemble_averaged"] = json.dumps(list(keys))
            for image_id in ids:
                g = dst.create_group(image_id)
                g["image_size"] = files[0][image_id]["image_size"][()]
                for key in ("boundary", "disp"):
                    maps = [f[image_id][key][()] for f in (files if key in keys else files[:1])]
                    g[key] = np.mean(maps, axis=0, dtype=np.float64).astype(np.float32)
                    g[key].attrs.update(dict(files[0][image_id][key].attrs))
        tmp.replace(out)


def summary(entries: list[str]) -> dict:
    """Mean and range over ``entries`` of section irn_ensemble: the first member's figures (a
    single IRNet, the pipeline's) against the ensemble's."""
    section = json.loads(RESULTS.read_text()).get("irn_ensemble", {})
    missing = [e for e in entries if e not in section]
    if missing:
        sys.exit(f"section irn_ensemble of {RESULTS}: no entries {missing}")
    rows = [section[e] for e in entries]
    singles = [next(iter(r["members"].values())) for r in rows]
    if any(s is None for s in singles):
        sys.exit("a first member without labels of its own: list the run's own IRNet first")
    out = {"entries": entries}
    for key in [k for k in KEYS if all(k in s for s in singles) and all(k in r["ensemble"] for r in rows)]:
        out[key] = {
            "single": spread_of([s[key] for s in singles]),
            "ensemble": spread_of([r["ensemble"][key] for r in rows]),
        }
        print(f"{key}: single {out[key]['single']}  ensemble {out[key]['ensemble']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, nargs="?")
    ap.add_argument("members", type=Path, nargs="*")
    ap.add_argument("--name", required=True)
    ap.add_argument(
        "--average",
        choices=("both", "boundary"),
        default="both",
        help="average the boundary maps and the displacement fields, or the boundary maps only (the "
        "instances' centres from the first member's displacement)",
    )
    ap.add_argument("--set", nargs="*", default=[], help="section.key=value changes of the ensemble's config")
    ap.add_argument("--summary", nargs="+", metavar="ENTRY", help="summarise these entries instead")
    args = ap.parse_args()
    if args.summary:
        update_entry("irn_ensemble", args.name, summary(args.summary))
        return
    if args.run is None or not args.members:
        ap.error("give a run and its members (or --summary)")
    run, members = args.run.resolve(), [m.resolve() for m in args.members]
    for m in members:
        if not (m / "irn/irn_out.h5").is_file():
            sys.exit(f"{m}/irn/irn_out.h5: missing; make it with snakemake ... {m.name}/irn/irn_out.h5 --notemp")
        if not filecmp.cmp(m / "cam/cams.h5", run / "cam/cams.h5", shallow=False):
            sys.exit(f"{m}: its CAMs are not {run.name}'s (cam/cams.h5 differs)")
    tree = run.parents[1]
    cfg = apply_changes(yaml.safe_load((run.parent / f"{run.name}.yaml").read_text()), args.set)
    cfg["run_name"] = f"{run.name}_{args.name}"
    ens = run.parent / cfg["run_name"]
    config = run.parent / f"{cfg['run_name']}.yaml"
    made = {"members": [str(m) for m in members], "averaged": args.average, "changes": args.set}
    record = ens / "ensemble.json"  # what the folder's walk onward was made of
    flags = ["--rerun-triggers", "mtime"]
    if record.is_file() and json.loads(record.read_text()) == made and (ens / "labels/eval.json").is_file():
        print(f"{ens}: made with these members and changes; going on from its files")
    else:
        copy_run(run, ens, remove=STALE)  # outside the walk's targets: the run's, until remade
        if (run / GT_VAL).is_file():  # ground truth, the run's as much as the ensemble's (bench_recipe)
            (ens / GT_VAL).parent.mkdir(exist_ok=True)
            shutil.copy2(run / GT_VAL, ens / GT_VAL)
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        averaged = ("boundary", "disp") if args.average == "both" else ("boundary",)
        mean_maps(members, ens / "irn/irn_out.h5", averaged)
        flags += ["--forcerun", "random_walk"]
    targets = [f"results/{cfg['run_name']}/{t}" for t in TARGETS]
    cmd = snakemake_cmd(tree, config, *targets, *flags, cores=cfg["threads"], code=tree)
    run_snakemake(cmd, str(ens))
    record.write_text(json.dumps(made))
    row = {
        "run": str(run),
        "members": {str(m): figures(own_labels(m)) for m in members},
        "averaged": args.average,
        "changes": args.set,
        "ensemble": figures(json.loads((ens / "labels/eval.json").read_text())),
    }
    print(json.dumps(row, indent=1))
    update_entry("irn_ensemble", args.name, row)


if __name__ == "__main__":
    main()
