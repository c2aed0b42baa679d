"""Toy Mask R-CNN recipes on the fixed pseudo labels of a finished default toy run: each recipe
trained with several seeds and evaluated on the run's held-out val, to choose config/config.yaml's
detector settings by stability (how the README's recipe figures were made).

Usage (from the folder that holds the run's data/, one thread per process):
  python benchmarks/bench_recipe.py results/toy_default NAME --seeds 0 1 2 [section.key=value ...]
e.g. NAME=C maskrcnn.lr=0.01 maskrcnn.warmup_iters=150 maskrcnn.frozen_stages=2
Writes each seed's model and evaluation under /tmp/recipes/NAME_s<seed>/ and the mAP25/50/70 of
every seed to the section ``recipes`` of benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml
from snakemake.utils import validate

sys.path.insert(0, str(Path(__file__).parent))
from common import update_results

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from irn_core.device import set_threads
    from irn_core.stages.maskrcnn import eval_maskrcnn, train_maskrcnn

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a finished default toy run (results/<run_name>)")
    ap.add_argument("name", help="the recipe's name in results.json")
    ap.add_argument("overrides", nargs="*", help="section.key=value (YAML values)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    run = Path(args.run)
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    for item in args.overrides:
        key, value = item.split("=", 1)
        section, name = key.split(".")
        cfg[section][name] = yaml.safe_load(value)
    cfg["threads"] = 1
    set_threads(1)
    manifests = [str(run / "dataset/train.json"), str(run / "dataset/eval.json")]
    rows = {}
    for seed in args.seeds:
        cfg["maskrcnn"]["seed"] = seed
        out = Path(f"/tmp/recipes/{args.name}_s{seed}")
        out.mkdir(parents=True, exist_ok=True)
        started = time.time()
        train_maskrcnn(
            cfg, str(run / "labels/ins_pseudo_coco.json"), str(run / "cam/model.pt"), manifests,
            str(out / "model.pt"), str(out / "checkpoints"),
        )  # fmt: skip
        r = eval_maskrcnn(
            cfg, str(out / "model.pt"), str(run / "maskrcnn/gt_val_coco.json"), str(out / "eval.json"),
            str(out / "predictions.json"),
        )  # fmt: skip
        rows[str(seed)] = {k: round(r[k], 4) for k in ("map25", "map50", "map70")}
        rows[str(seed)]["seconds"] = round(time.time() - started)
        print(args.name, seed, rows[str(seed)], flush=True)
    results = json.loads(Path(__file__).with_name("results.json").read_text()).get("recipes", {})
    results[args.name] = {"overrides": args.overrides, "seeds": rows}
    update_results("recipes", results)


if __name__ == "__main__":
    main()
