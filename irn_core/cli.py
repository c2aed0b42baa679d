"""``irn``: look at what the pipeline wrote, and use what it learned.

irn inspect FILE.h5 [--all]           provenance, images and datasets of a stage file, explained
irn show RUN_DIR IMAGE_ID [-o X.png]  one panel per stage for one image (RUN_DIR: a run's folder,
                                      or the folder of `irn predict`)
irn predict RUN_DIR IMAGE_OR_FOLDER... -o OUT_DIR [--model maskrcnn|deeplab|both]
            [--score-threshold S] [--device auto] [--batch-size N] [--scales S...] [--no-flip] [--crf]
                                      the run's trained models on new images (irn_core.predict)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def inspect(path: str, every_image: bool = False, out=sys.stdout) -> None:
    from .io import open_stage

    with open_stage(path) as f:
        attrs = dict(f.attrs)
        ids = list(f)
        p = lambda *a: print(*a, file=out)
        p(f"{path}")
        p(
            f"  stage {attrs.get('stage')}, run {attrs.get('run_name')}, created {attrs.get('created')}, "
            f"irn_core {attrs.get('irn_core_version')}"
        )
        p(f"  content digest {attrs.get('content_digest')}, settings digest {attrs.get('config_digest')}")
        for k, v in sorted(attrs.items()):
            if k.endswith("_digest") and k not in ("content_digest", "config_digest"):
                p(f"  input {k[: -len('_digest')]}: {v}")
        classes = json.loads(attrs["classes"]) if "classes" in attrs else None
        if classes:
            p(f"  classes: {', '.join(f'{i} {c}' for i, c in enumerate(classes))}")
        p(f"  settings: {attrs.get('config_json', '{}')}")
        p(f"  images: {len(ids)}" + (f" ({ids[0]} ... {ids[-1]})" if ids else ""))
        if not ids:
            return
        p(f"  datasets of each image (shapes of {ids[0]}):")
        for name, d in f[ids[0]].items():
            a = dict(d.attrs)
            extra = ", ".join(f"{k} {a[k]}" for k in ("stride", "units", "range") if k in a)
            p(
                f"    {name:<11} {d.dtype!s:<8} {d.shape!s:<16} {a.get('meaning', '')}"
                + (f" ({extra})" if extra else "")
            )
            if name in ("keys", "classes") and classes and d.size:
                p(f"    {'':<11} {'':<8} {'':<16} = {', '.join(classes[int(k)] for k in d[()])}")
        if every_image:
            for image_id in ids:
                shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in f[image_id].items())
                p(f"  {image_id}: {shapes}")


def show(run_dir: str, image_id: str, out: str | None) -> Path:
    from .figures import image_panels, prediction_panels, save_panels

    is_predictions = (Path(run_dir) / "predictions.h5").is_file()
    panels = prediction_panels(run_dir, image_id) if is_predictions else image_panels(run_dir, image_id)
    return save_panels(panels, out or f"{image_id}.png", title=f"{Path(run_dir).name}: {image_id}")


def predict(args) -> int:
    """``irn predict``: 0 when every image was predicted, 1 when some could not be (listed)."""
    from .device import resolve_device
    from .predict import load_models, predict_images, run_models

    device = resolve_device(args.device)
    models = load_models(run_models(args.run_dir, args.model), device)
    done = predict_images(
        models,
        args.images,
        args.output,
        args.score_threshold,
        args.batch_size,
        args.scales,
        not args.no_flip,
        args.crf,
        run_name=Path(args.run_dir).name,
    )
    print(f"{done['images']} image(s), {done['instances']} instance(s) to {args.output}")
    for failure in done["failures"]:
        print(f"irn predict: {failure}", file=sys.stderr)
    if done["failures"]:
        print(f"irn predict: {len(done['failures'])} image(s) not predicted", file=sys.stderr)
    return 1 if done["failures"] else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="irn", description="Inspect and use the results of an IRNet run.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="explain a stage file (HDF5): provenance, images, datasets")
    p.add_argument("file")
    p.add_argument("--all", action="store_true", help="also list every image's datasets")
    p = sub.add_parser("show", help="one panel per stage for one image of a run")
    p.add_argument("run_dir", help="the run's folder, results/<run_name>")
    p.add_argument("image_id")
    p.add_argument("-o", "--output", help="PNG to write (default IMAGE_ID.png)")
    p = sub.add_parser("predict", help="segment new images with a finished run's Mask R-CNN and DeepLab")
    p.add_argument("run_dir", help="the run's folder, results/<run_name>")
    p.add_argument("images", nargs="+", help="image files, or folders of them")
    p.add_argument("-o", "--output", required=True, help="the folder to write the predictions to")
    p.add_argument("--model", choices=("maskrcnn", "deeplab", "both"), default="both")
    p.add_argument("--score-threshold", type=float, default=0.5, help="instances above it are kept (default 0.5)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=4, help="images per Mask R-CNN batch (default 4)")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0], help="DeepLab's inference scales (default 1)")
    p.add_argument("--no-flip", action="store_true", help="DeepLab without the flipped image")
    p.add_argument("--crf", action="store_true", help="DeepLab with dense-CRF post-processing")
    args = parser.parse_args(argv)
    try:
        if args.command == "inspect":
            inspect(args.file, args.all)
        elif args.command == "predict":
            return predict(args)
        else:
            print(show(args.run_dir, args.image_id, args.output))
    except (OSError, KeyError, ValueError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"irn {args.command}: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
