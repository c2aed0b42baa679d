"""Stage of the summaries: the numbers of a run's evaluations and the wall times of its jobs, for
the whole run (summary.json) or a named target (summary_<target>.json)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..io import write_json
from ..layout import TARGETS, benchmark_job

# what each runner reads (irn_core.config.rule_settings): the evaluation files only
SETTINGS = {
    "summary": [],
}
# which numbers of each stage's evaluation JSON go into the summary
KEYS = {
    "cam": ("miou", "best_miou", "best_threshold", "threshold"),
    "sem_pseudo": ("miou", "threshold", "best_on_gt"),
    "ins_pseudo": ("map25", "map50", "map70", "map75", "threshold", "best_on_gt"),
    "baseline_cc": ("map25", "map50", "map70", "map75"),
    "baseline_sem_cc": ("map25", "map50", "map70", "map75"),
    "maskrcnn": ("map25", "map50", "map70", "map75", "coco_segm_ap"),
    "maskrcnn_gt": ("map25", "map50", "map70", "map75", "coco_segm_ap"),
    "deeplab": ("miou",),
    "diagnostics": ("images", "pipeline", "gt_instance_map", "gt_boundary", "gt_cams"),
}


def _benchmarks(bench_dir: str | Path, jobs=None) -> list[Path]:
    return [p for p in sorted(Path(bench_dir).glob("*.tsv")) if jobs is None or benchmark_job(p) in jobs]


def stage_seconds(bench_dir: str | Path, jobs=None) -> dict[str, float]:
    """Wall seconds per job from Snakemake benchmark files (of ``jobs`` only, when given); the
    shard jobs of a sharded rule are summed (machine time, not wall time)."""
    out: dict[str, float] = {}
    for p in _benchmarks(bench_dir, jobs):
        with open(p) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            out[benchmark_job(p)] = round(out.get(benchmark_job(p), 0.0) + float(rows[-1]["s"]), 2)
    return out


def elapsed_seconds(bench_dir: str | Path, until: str | None = None, jobs=None) -> float | None:
    """Wall-clock seconds from the start of the first rule to the end of the last one (or of rule
    ``until``), from the benchmark files' write times minus their durations. Rules that ran side
    by side count once, unlike a sum of per-rule times. None when there are no benchmark files."""
    spans = {}
    for p in _benchmarks(bench_dir, jobs):
        with open(p) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            end = p.stat().st_mtime
            start = end - float(rows[-1]["s"])
            old = spans.get(benchmark_job(p), (start, end))
            spans[benchmark_job(p)] = (min(old[0], start), max(old[1], end))
    if not spans or (until is not None and until not in spans):
        return None
    end = spans[until][1] if until is not None else max(e for _, e in spans.values())
    return round(end - min(s for s, _ in spans.values()), 2)


def summary(evals: dict[str, str], bench_dir: str | Path, out: str | Path, run_name: str, target: str = "all") -> dict:
    """The numbers of the evaluations behind ``target`` (a key of irn_core.layout.TARGETS; by
    section or file) and the wall times of its jobs."""
    jobs = TARGETS[target].jobs
    result = {"run_name": run_name, "target": target}
    for name, path in evals.items():
        data = json.loads(Path(path).read_text())
        # an evaluation file holds one section, or several keyed by section name
        sections = {name: data} if name in KEYS else {k: v for k, v in data.items() if k in KEYS}
        for section, values in sections.items():
            result[section] = {k: values[k] for k in KEYS[section] if k in values}
    result["seconds"] = stage_seconds(bench_dir, jobs)
    result["seconds"]["total"] = round(sum(result["seconds"].values()), 2)
    # wall clock of the run (jobs that ran side by side counted once) and up to the pseudo labels
    result["seconds"]["elapsed"] = elapsed_seconds(bench_dir, jobs=jobs)
    if "labels" in evals:
        result["seconds"]["elapsed_through_pseudo_labels"] = elapsed_seconds(bench_dir, "eval_pseudo", jobs)
    write_json(out, result)
    return result
