"""Does fine-tuning on a few shifted images help? Before/after on held-out shifted images.

The experiment of ``notebooks/02_should_i_automate.ipynb`` with the same calls and
settings, as a script (run from the repository root)::

    .venv/bin/python bench/finetune.py                          # full settings (the README numbers)
    .venv/bin/python bench/finetune.py --fast                   # a smoke run (tiny subsets, 4 steps)
    .venv/bin/python bench/finetune.py --model other.pt --json out.json

Steps:

1. import ``known-val``, ``shifted-background`` and ``shifted-newclass`` (COCO
   annotations -> ``ground_truth``) with :func:`labelkit.io.coco.load_coco`;
2. from each shifted split draw ``--n-finetune`` images (seeded, by file path)
   as the "labelled" set - their ground truth stands in for a reviewer's corrected
   labels - and hold the rest out; the labelled set has at most 50 images;
3. propose with the sample model and fine-tune it on the labelled set
   (:func:`labelkit.finetune`);
4. propose again with the fine-tuned model and score both on the held-out shifted
   images (and on known-val, to see what the known split keeps): COCO mask AP50 /
   AP (pycocotools, :func:`labelkit.io.coco.coco_mask_ap`) and
   :func:`labelkit.audit` in ground-truth mode (acceptance rate, recall,
   precision).

Prints a Markdown table and writes everything to ``--json``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

# An isolated FiftyOne database, before anything imports fiftyone.
_DB_DIR = tempfile.mkdtemp(prefix="labelkit-bench-ft-db-")
os.environ["FIFTYONE_DATABASE_DIR"] = _DB_DIR
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPLITS = ("known-val", "shifted-background", "shifted-newclass")
SHIFTED = ("shifted-background", "shifted-newclass")

#: Full settings (the notebook's defaults).
FULL = dict(n_finetune=25, epochs=30, patience=8, batch_size=2, lr=None, max_iters=None, max_samples=None)
#: Smoke settings (the notebook's LABELKIT_NB_FAST=1).
FAST = dict(n_finetune=6, epochs=1, patience=1, batch_size=2, lr=None, max_iters=4, max_samples=16)


def _private_database() -> None:
    """Start a FiftyOne database of our own in ``_DB_DIR`` (as ``bench/propose.py`` does):
    FiftyOne's service otherwise attaches to any FiftyOne database running on the
    machine, whatever its folder. A single-client service never attaches, and nobody
    attaches to it."""
    import fiftyone.core.service as fos

    fos.DatabaseService.start = fos.Service.start
    fos.DatabaseService._service_args = property(lambda self: ["--51-service", self.service_name])


def pick(view, n: int, seed: int):
    """``n`` samples drawn reproducibly (seeded, by file path; FiftyOne's ``take(seed=)``
    depends on per-import random values, so it differs between imports)."""
    import numpy as np

    paths, ids = view.values(["filepath", "id"])
    order = sorted(range(len(ids)), key=lambda i: paths[i])
    chosen = np.random.default_rng(seed).choice(len(order), size=min(n, len(order)), replace=False)
    return view.select([ids[order[i]] for i in sorted(chosen)])


def score(view, field: str) -> dict[str, Any]:
    """Mask AP (pycocotools) and ground-truth-mode audit of one predictions field."""
    import labelkit as lk
    from labelkit.io.coco import coco_mask_ap

    ap = coco_mask_ap(view, field, "ground_truth")
    rep = lk.audit(view, proposals=field, labels="ground_truth", mode="ground_truth", n_boot=200)
    o = rep.overall
    return dict(
        images=len(view), ap50=ap["ap50"], ap=ap["ap"], per_class_ap50=ap["per_class_ap50"],
        proposals=int(o["proposals"]), accepted_rate=o["accepted_rate"], useful_rate=o["useful_rate"],
        recall=o["recall"], precision=o["precision"], missed=int(o["missed"]),
        per_class_recall={k: float(v) for k, v in rep.per_class["recall"].items()},
        per_class_accepted={k: float(v) for k, v in rep.per_class["accepted_rate"].items()},
    )


def run(model_path: str | None, settings: dict[str, Any], seed: int, min_confidence: float,
        out_ckpt: str | None, progress: bool = True) -> dict[str, Any]:
    """The whole experiment; returns the results (see the module docstring)."""
    import fiftyone as fo

    import labelkit as lk
    from labelkit.io.coco import load_coco

    data = lk.models.sample_data_dir()
    model = lk.models.load(model_path) if model_path else lk.models.sample()
    ds = {s: load_coco(data / s, name=f"bench-ft-{s}", max_samples=settings["max_samples"]) for s in SPLITS}

    # the "labelled" images (ground truth standing in for reviewed labels) and the held-out rest
    labelled = fo.Dataset("bench-ft-labelled", overwrite=True)
    held = {"known-val": ds["known-val"]}
    for s in SHIFTED:
        part = pick(ds[s], settings["n_finetune"], seed)
        part.tag_samples("finetune")
        labelled.add_collection(part)
        held[s] = ds[s].match_tags("finetune", bool=False)
    assert len(labelled) <= 50, len(labelled)

    t0 = time.perf_counter()
    for s in SPLITS:
        lk.propose(held[s], model, field="predictions", min_confidence=min_confidence, progress=progress)
    propose_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    better = lk.finetune(
        model, labelled, labels="ground_truth", epochs=settings["epochs"], batch_size=settings["batch_size"],
        lr=settings["lr"], patience=settings["patience"], max_iters=settings["max_iters"], seed=seed,
        out=out_ckpt, progress=progress,
    )
    train_s = time.perf_counter() - t0

    for s in SPLITS:
        lk.propose(held[s], better, field="predictions_ft", min_confidence=min_confidence, progress=progress)

    results: dict[str, Any] = dict(
        model=str(model_path or "sample"), settings=settings, seed=seed, min_confidence=min_confidence,
        labelled_images=len(labelled), train_seconds=round(train_s, 1), propose_seconds=round(propose_s, 1),
        checkpoint=str(better.checkpoint_path), classes_after=better.classes, history=better.history,
        splits={},
    )
    for s in SPLITS:
        results["splits"][s] = dict(before=score(held[s], "predictions"), after=score(held[s], "predictions_ft"))
    for d in list(ds.values()) + [labelled]:
        d.delete()
    return results


def table(results: dict[str, Any]) -> str:
    """Markdown before/after table."""
    head = ("| split (held-out images) | model | mask AP50 | mask AP | acceptance rate | recall | "
            "precision | proposals |\n|---|---|---|---|---|---|---|---|")
    rows = [head]
    for s, r in results["splits"].items():
        for which in ("before", "after"):
            m = r[which]
            name = "sample model" if which == "before" else "fine-tuned"
            rows.append(
                f"| {s} ({m['images']}) | {name} | {m['ap50']:.3f} | {m['ap']:.3f} | "
                f"{m['accepted_rate']:.3f} | {m['recall']:.3f} | {m['precision']:.3f} | {m['proposals']} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a labelkit checkpoint (default: the bundled sample model)")
    p.add_argument("--fast", action="store_true", help="smoke settings (tiny subsets, 4 steps)")
    p.add_argument("--n-finetune", type=int, default=None, help="labelled images per shifted split")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-confidence", type=float, default=0.3, help="propose threshold (lk.propose default)")
    p.add_argument("--out", default=None, help="where to save the fine-tuned checkpoint")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    _private_database()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("labelkit").setLevel(logging.INFO)
    settings = dict(FAST if args.fast else FULL)
    for key in ("n_finetune", "epochs", "lr", "patience"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    t0 = time.perf_counter()
    try:
        results = run(args.model, settings, args.seed, args.min_confidence, args.out, not args.no_progress)
    finally:
        shutil.rmtree(_DB_DIR, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    print(table(results))
    h = results["history"]
    best = max((r for r in h if r["best"]), key=lambda r: r["epoch"])
    print(
        f"\nlabelled images: {results['labelled_images']}; fine-tuning {results['train_seconds']:.0f} s, "
        f"{len(h)} epoch(s), best epoch {best['epoch']} (val mask AP50 {best.get('val_map50', float('nan')):.3f}); "
        f"total {results['total_seconds']:.0f} s; classes after: {results['classes_after']}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
