"""results/<run>/summary.json: the evaluation numbers of every stage that has run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..io import write_json

# which numbers of each stage's evaluation JSON go into the summary
KEYS = {
    "cam": ("miou", "best_miou", "best_threshold", "threshold"),
    "sem_pseudo": ("miou",),
    "ins_pseudo": ("map25", "map50", "map70", "map75"),
    "baseline_cc": ("map25", "map50", "map70", "map75"),
    "baseline_sem_cc": ("map25", "map50", "map70", "map75"),
    "maskrcnn": ("map25", "map50", "map70", "map75", "coco_segm_ap"),
    "maskrcnn_gt": ("map25", "map50", "map70", "map75", "coco_segm_ap"),
    "deeplab": ("miou",),
    "diagnostics": ("images", "pipeline", "gt_instance_map", "gt_boundary", "gt_cams"),
}


_CAMS = ("prepare_toy", "check_dataset_train", "check_dataset_eval", "train_cam", "make_cam", "eval_cam")
_PSEUDO = _CAMS + ("mine_relations", "train_irn", "infer_irn", "make_labels", "pseudo_coco", "baselines",
                   "eval_pseudo", "diagnostics")
# the rules (benchmark names) behind each named stopping point; "all" counts every rule
TARGET_RULES = {
    "cams": _CAMS,
    "pseudo_labels": _PSEUDO,
    "maskrcnn": _PSEUDO + ("check_dataset_val", "train_maskrcnn_pseudo", "train_maskrcnn_gt", "eval_maskrcnn_pseudo",
                           "eval_maskrcnn_gt"),
    "deeplab": _PSEUDO + ("check_dataset_val", "train_deeplab", "eval_deeplab"),
    "all": None,
}


def _rule(p: Path) -> str:
    """The rule of a benchmark file: ``make_cam.3.tsv`` (shard 3) is make_cam's."""
    return p.stem.split(".")[0]


def _benchmarks(bench_dir: str | Path, rules=None) -> list[Path]:
    return [p for p in sorted(Path(bench_dir).glob("*.tsv")) if rules is None or _rule(p) in rules]


def stage_seconds(bench_dir: str | Path, rules=None) -> dict[str, float]:
    """Wall seconds per rule from Snakemake benchmark files (of ``rules`` only, when given); the
    shard jobs of a sharded rule are summed (machine time, not wall time)."""
    out: dict[str, float] = {}
    for p in _benchmarks(bench_dir, rules):
        with open(p) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            out[_rule(p)] = round(out.get(_rule(p), 0.0) + float(rows[-1]["s"]), 2)
    return out


def elapsed_seconds(bench_dir: str | Path, until: str | None = None, rules=None) -> float | None:
    """Wall-clock seconds from the start of the first rule to the end of the last one (or of rule
    ``until``), from the benchmark files' write times minus their durations. Rules that ran side
    by side count once, unlike a sum of per-rule times. None when there are no benchmark files."""
    spans = {}
    for p in _benchmarks(bench_dir, rules):
        with open(p) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            end = p.stat().st_mtime
            start = end - float(rows[-1]["s"])
            old = spans.get(_rule(p), (start, end))
            spans[_rule(p)] = (min(old[0], start), max(old[1], end))
    if not spans or (until is not None and until not in spans):
        return None
    end = spans[until][1] if until is not None else max(e for _, e in spans.values())
    return round(end - min(s for s, _ in spans.values()), 2)


def write_summary(evals: dict[str, str], bench_dir: str | Path, out: str | Path, run_name: str,
                  target: str = "all") -> dict:
    """The numbers of the stages behind ``target`` (a key of TARGET_RULES) and their wall times."""
    rules = TARGET_RULES[target]
    summary = {"run_name": run_name, "target": target}
    for name, path in evals.items():
        data = json.loads(Path(path).read_text())
        # an evaluation file holds one section, or several keyed by section name
        sections = {name: data} if name in KEYS else {k: v for k, v in data.items() if k in KEYS}
        for section, values in sections.items():
            summary[section] = {k: values[k] for k in KEYS[section] if k in values}
    summary["seconds"] = stage_seconds(bench_dir, rules)
    summary["seconds"]["total"] = round(sum(summary["seconds"].values()), 2)
    # wall clock of the run (rules that ran side by side counted once) and up to the pseudo labels
    summary["seconds"]["elapsed"] = elapsed_seconds(bench_dir, rules=rules)
    if "labels" in evals:
        summary["seconds"]["elapsed_through_pseudo_labels"] = elapsed_seconds(bench_dir, "eval_pseudo", rules)
    write_json(out, summary)
    return summary
