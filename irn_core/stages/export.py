"""Stage export_public: our CAMs and pseudo labels in the authors' file layout, so existing
evaluation scripts written for jiwoon-ahn/irn read them unchanged (see irn_core/public.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

from ..cam import stage_cams
from ..datasets import stage_ids, union_ids
from ..io import open_stage, read_instances
from ..progress import Progress, log
from ..public import write_public_cam, write_public_instances

# what each runner reads (irn_core.config.rule_settings)
SETTINGS = {
    "export_public": ["split:train", "split:eval"],
}


def export_public(cfg: dict, cams_path: str, sem_path: str, ins_path: str, out_dir: str) -> dict:
    """Write ``cam/<id>.npy``, ``sem_seg/<id>.png`` and ``ins_seg/<id>.npy`` for every train/eval
    image into ``out_dir`` (built under a temporary name, then renamed)."""
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("cam", "sem_seg", "ins_seg"):
        (tmp / sub).mkdir(parents=True)
    ids = union_ids(stage_ids(cfg, "train_list"), stage_ids(cfg, "eval_list"))
    try:
        with open_stage(cams_path) as cams, open_stage(sem_path) as sem, open_stage(ins_path) as ins:
            for image_id in Progress(ids, "export_public"):
                g = cams[image_id]
                keys, cam_s4 = stage_cams(g, 4)
                write_public_cam(tmp / "cam" / f"{image_id}.npy", keys, cam_s4, stage_cams(g, 1)[1])
                Image.fromarray(sem[image_id]["label"][()]).save(tmp / "sem_seg" / f"{image_id}.png")
                write_public_instances(tmp / "ins_seg" / f"{image_id}.npy", *read_instances(ins, image_id))
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"export_public: {len(ids)} images to {out}")
    return {"images": len(ids)}
