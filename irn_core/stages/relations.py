"""Stage of METHOD.md 3: the confident regions of every training image, from its CAMs, from which
IRNet's inter-pixel relations are sampled."""

from __future__ import annotations

import contextlib
import multiprocessing

import numpy as np
import torch

from ..cam import stage_cams
from ..io import INFO, open_stage
from ..progress import log
from ..relations import relation_labels
from . import PerImage

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "mine_relations": ["split:train", "relations"],
}


def _relations_job(args):
    data, image_id, cams, keys, (fg, bg, crf) = args
    return image_id, relation_labels(data.load_image(image_id), cams, keys, fg, bg, crf)


def mine_relations(cfg: dict, cams_path: str, out_path: str, workers: int = 1, shard: tuple[int, int] = (0, 1)) -> dict:
    """Confident fg/bg label maps (CRF-refined) of every training image (of one shard), to HDF5."""
    rel = cfg["relations"]
    counts = np.zeros(3, np.int64)  # background, foreground, unsure pixels
    settings = (rel["fg_threshold"], rel["bg_threshold"], rel["crf"])
    # the dense CRF is single-threaded C++: one image per worker process, each with one torch
    # thread (workers x 1 = the rule's threads; fork: the children must not re-run the calling
    # script), results in order
    parallel = workers > 1 and "fork" in multiprocessing.get_all_start_methods()
    with (
        open_stage(cams_path) as cams,
        PerImage("mine_relations", cfg, ("train",), {"relations": out_path}, {"cams": cams_path}, shard) as stage,
        (
            multiprocessing.get_context("fork").Pool(workers, torch.set_num_threads, (1,))
            if parallel
            else contextlib.nullcontext()
        ) as pool,
    ):
        jobs = ((stage.data, image_id, *stage_cams(cams[image_id], 1)[::-1], settings) for image_id in stage.ids)
        results = pool.imap(_relations_job, jobs, chunksize=4) if parallel else map(_relations_job, jobs)
        for image_id, lab in stage.progress(results):
            counts += [(lab == 0).sum(), ((lab > 0) & (lab < 255)).sum(), (lab == 255).sum()]
            stage.write(
                "relations", image_id, {"label": lab}, compression="gzip", info={"label": INFO["relation_label"]}
            )
    frac = counts / counts.sum()
    log(f"mine_relations: background {frac[0]:.1%}, foreground {frac[1]:.1%}, unsure {frac[2]:.1%} of pixels")
    return {"fractions": frac.tolist()}
