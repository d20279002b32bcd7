"""Train the bundled sample model (compact Mask R-CNN) on ``sample_data/known-train``.

Usage (from the repository root; CPU, 2 threads, from scratch, no downloads)::

    python sample_data/train_sample_model.py                 # the shipped recipe
    python sample_data/train_sample_model.py --iters 50 --out /tmp/pilot.pt   # a pilot

Reproducible: seeded data order, augmentations and initialisation
(``torch.manual_seed``, ``np.random.default_rng``), single process, 2 threads.
Writes the checkpoint in the labelkit format (``"format": "labelkit.maskrcnn/1"``,
fp16 weights), plus ``<snapshot-dir>/<name>.iterNNNNN.pt`` snapshots (with
optimizer state, outside the repository by default) every ``--save-every``
iterations so a usable model survives an interrupted run (``--resume`` continues
from one).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_util

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelkit.models.compact import DEFAULT_ARCH_KWARGS, build_compact_maskrcnn  # noqa: E402

FORMAT = "labelkit.maskrcnn/1"
TRAIN_SCALES = (192, 208, 224, 240, 256, 272, 288)  # short side, sampled per batch (scale jitter)


def load_coco_split(split_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a split written by :func:`labelkit.synth.write_split`.

    Returns:
        ``(classes, samples)``: class names ordered by category id (model label
        ``i + 1`` is ``classes[i]``), and per image a dict with ``image``
        (``(H, W, 3)`` uint8), ``rles`` and ``labels`` (model labels, int).
    """
    coco = json.loads((split_dir / "annotations.json").read_text())
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    classes = [c["name"] for c in cats]
    label_of = {c["id"]: i + 1 for i, c in enumerate(cats)}
    by_image: dict[int, list[dict[str, Any]]] = {im["id"]: [] for im in coco["images"]}
    for ann in coco["annotations"]:
        by_image[ann["image_id"]].append(ann)
    samples = []
    for im in sorted(coco["images"], key=lambda i: i["id"]):
        anns = by_image[im["id"]]
        image = np.asarray(Image.open(split_dir / "images" / im["file_name"]).convert("RGB"))
        samples.append(
            dict(
                image=image,
                rles=[a["segmentation"] for a in anns],
                labels=[label_of[a["category_id"]] for a in anns],
            )
        )
    return classes, samples


def make_target(sample: dict[str, Any], rng: np.random.Generator, augment: bool):
    """One training pair: image tensor ``(3, H, W)`` in [0, 1] and a Mask R-CNN target."""
    image = sample["image"]
    masks = mask_util.decode(sample["rles"]).transpose(2, 0, 1) if sample["rles"] else np.zeros((0, *image.shape[:2]), np.uint8)
    labels = np.asarray(sample["labels"], np.int64)
    img = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0
    if augment:
        if rng.random() < 0.5:
            img = img.flip(-1)
            masks = masks[:, :, ::-1]
        # photometric jitter: brightness, contrast, saturation (mild)
        b, c, s = rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25), rng.uniform(0.7, 1.3)
        gray = img.mean(0, keepdim=True)
        img = gray + (img - gray) * s
        img = (img - img.mean()) * c + img.mean()
        img = (img * b).clamp(0, 1)
    masks = np.ascontiguousarray(masks)
    keep = masks.reshape(len(masks), -1).any(1)
    masks, labels = masks[keep], labels[keep]
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        boxes[k] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    target = dict(
        boxes=torch.from_numpy(boxes).reshape(-1, 4),
        labels=torch.from_numpy(labels),
        masks=torch.from_numpy(masks),
    )
    return img, target


def half_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict with float weights as fp16 (BatchNorm running statistics stay fp32)."""
    out = {}
    for k, v in model.state_dict().items():
        if torch.is_floating_point(v) and not k.endswith(("running_mean", "running_var")):
            v = v.half()
        out[k] = v.detach().clone()
    return out


def save_checkpoint(path: Path, model, classes, arch_kwargs, meta, optimizer=None, it=None) -> None:
    """Write a labelkit checkpoint (and optimizer state for resuming when given)."""
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "arch": "compact",
        "arch_kwargs": arch_kwargs,
        "classes": list(classes),
        "state_dict": half_state_dict(model),
        "meta": meta,
    }
    if optimizer is not None:
        ckpt["resume"] = dict(
            optimizer=optimizer.state_dict(),
            iteration=it,
            model_fp32=model.state_dict(),
            torch_rng=torch.get_rng_state(),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)


def lr_at(it: int, iters: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 2 % of ``base``."""
    if it < warmup:
        return base * (0.05 + 0.95 * it / warmup)
    t = (it - warmup) / max(iters - warmup, 1)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def main(argv: list[str] | None = None) -> int:
    """Train and save the sample checkpoint."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT / "sample_data" / "known-train")
    p.add_argument("--out", type=Path, default=ROOT / "sample_data" / "models" / "sample_maskrcnn.pt")
    p.add_argument("--iters", type=int, default=800)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--snapshot-dir", type=Path, default=Path(tempfile.gettempdir()) / "labelkit-sample-model")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--resume", type=Path, default=None, help="a snapshot written by this script")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_load = time.perf_counter()
    classes, samples = load_coco_split(args.data)
    print(f"loaded {len(samples)} images, classes {classes} in {time.perf_counter() - t_load:.1f}s", flush=True)

    arch_kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in DEFAULT_ARCH_KWARGS.items()}
    model = build_compact_maskrcnn(len(classes) + 1, **arch_kwargs)
    model.transform.min_size = TRAIN_SCALES  # scale jitter while training only
    model.transform.max_size = 400
    n_params = sum(q.numel() for q in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters", flush=True)
    params = [q for q in model.parameters() if q.requires_grad]
    decay = [q for q in params if q.ndim > 1]
    no_decay = [q for q in params if q.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [dict(params=decay, weight_decay=args.weight_decay), dict(params=no_decay, weight_decay=0.0)],
        lr=args.lr,
    )
    start = 0
    if args.resume is not None:
        ck = torch.load(args.resume, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["resume"]["model_fp32"])
        optimizer.load_state_dict(ck["resume"]["optimizer"])
        torch.set_rng_state(ck["resume"]["torch_rng"])
        start = ck["resume"]["iteration"]
        rng = np.random.default_rng([args.seed, start])
        print(f"resumed from {args.resume} at iteration {start}", flush=True)

    meta = dict(
        trained_on="sample_data/known-train",
        script="sample_data/train_sample_model.py",
        seed=args.seed,
        iterations=args.iters,
        batch_size=args.batch,
        epochs=round(args.iters * args.batch / len(samples), 2),
        optimizer="AdamW",
        lr=args.lr,
        train_scales=list(TRAIN_SCALES),
        torch=str(torch.__version__),
    )
    model.train()
    order = rng.permutation(len(samples))
    pos = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    smooth: dict[str, float] = {}
    for it in range(start, args.iters):
        batch = []
        for _ in range(args.batch):
            if pos == len(order):
                order, pos = rng.permutation(len(samples)), 0
            batch.append(make_target(samples[order[pos]], rng, augment=True))
            pos += 1
        for g in optimizer.param_groups:
            g["lr"] = lr_at(it, args.iters, args.lr, args.warmup)
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        for k, v in list(losses.items()) + [("loss", loss)]:
            val = float(v.detach())
            smooth[k] = 0.9 * smooth.get(k, val) + 0.1 * val
        done = it + 1
        if done % args.log_every == 0 or done == args.iters:
            el = time.perf_counter() - t0
            rate = el / (done - start)
            parts = " ".join(f"{k.replace('loss_', '')}={v:.3f}" for k, v in smooth.items())
            print(
                f"it {done}/{args.iters} lr={optimizer.param_groups[0]['lr']:.2e} {parts} "
                f"{rate:.2f}s/it elapsed {el / 60:.1f}min eta {(args.iters - done) * rate / 60:.1f}min",
                flush=True,
            )
        if done % args.save_every == 0 and done < args.iters:
            meta_now = dict(meta, completed_iterations=done, train_seconds=round(time.perf_counter() - t0, 1))
            snap = args.snapshot_dir / f"{args.out.stem}.iter{done:05d}.pt"
            save_checkpoint(snap, model, classes, arch_kwargs, meta_now, optimizer, done)
            print(f"saved snapshot {snap}", flush=True)
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    meta.update(completed_iterations=args.iters, train_seconds=round(train_s, 1), cpu_seconds=round(cpu_s, 1))
    model.eval()
    save_checkpoint(args.out, model, classes, arch_kwargs, meta)
    size = args.out.stat().st_size
    print(
        f"saved {args.out} ({size / 1e6:.2f} MB) after {train_s / 60:.1f} min wall, "
        f"{cpu_s / 60:.1f} min CPU time (all threads)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
