"""Benchmark: keyframe interpolation vs copying the previous keyframe, on the sample video.

For each keyframe spacing (a person labels every N-th frame: frames 1, 1+N, ...,
and the last), the ground truth of those frames is copied into a field as
keyframes, ``lk.interpolate`` fills the frames between them, and each generated
frame is scored against the full ground truth (``labelkit.video.evaluate_interpolation``):

* scope: per track, the frames strictly between two consecutive keyframes of
  that track where the ground truth has the object;
* mask IoU and box IoU (absolute pixel boxes), averaged over those frames;
* ``extra``: frames where the object is fully hidden (no ground truth) but a
  label was generated (they are not in the means).

Both methods run in the same process on the same keyframes: ``sdf`` (shape
interpolation, the default) and ``copy`` (the naive baseline: hold the previous
keyframe). When the SAM 2 video weights are available (Hugging Face cache, or
``--sam2-model`` a local folder), a third column ``sam2`` (``method="sam2"``,
``facebook/sam2.1-hiera-tiny`` by default) is measured the same way; otherwise the
script prints ``sam2: not run: weights not available offline``. Motion types come from the sample's ``tracks[].motion``: ``linear``
(rigid book sliding at a constant sub-pixel speed), ``non-linear`` (mug on an
S-curve, accelerating, turning and growing) and ``occlusion`` (ball rolling
behind the book, hidden on frames 30-32).

Usage (from the repository root)::

    .venv/bin/python bench/video.py                  # prints a markdown table
    .venv/bin/python bench/video.py --spacings 2 5 10 20 --json results.json
    .venv/bin/python bench/video.py --sam2-model /path/to/sam2.1-hiera-tiny --device cuda
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# A private FiftyOne database (a mongod of its own, stopped and deleted at exit),
# before anything imports fiftyone: see labelkit.testing.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from labelkit.testing import use_private_database  # noqa: E402

use_private_database(prefix="labelkit-bench-db-")
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

import labelkit as lk  # noqa: E402
from labelkit import video as lkv  # noqa: E402

METHODS = ("sdf", "copy")
MOTIONS = ("linear", "non-linear", "occlusion")


def load_sam2(name_or_path: str, device: str):
    """The SAM 2 video model, or None (with the reason printed) when its weights are absent."""
    from labelkit.errors import WeightsNotAvailableError

    try:
        return lkv.sam2_video(name_or_path, device=device)
    except WeightsNotAvailableError as exc:
        print(f"sam2: not run: weights not available offline ({exc})\n")
        return None


def run(spacings: list[int], sam2=None) -> tuple[pd.DataFrame, dict]:
    ds = lkv.load_sample_video(name="bench-video", overwrite=True)
    motion = {t["id"]: t["motion"] for t in ds.info["labelkit_tracks"]["sample.mp4"]}
    rows, timings = [], {}
    methods = (*METHODS, "sam2") if sam2 is not None else METHODS
    for spacing in spacings:
        for method in methods:
            field = f"frames.kf{spacing}_{method}"
            lkv.take_keyframes(ds, "frames.ground_truth", field, every=spacing)
            t0 = time.perf_counter()
            extra = dict(model=sam2) if method == "sam2" else {}
            summary = lk.interpolate(ds, field, method=method, **extra)
            timings[(spacing, method)] = (time.perf_counter() - t0, summary.interpolated)
            df = lkv.evaluate_interpolation(ds, field)
            df["motion"] = df.track.map(motion)
            df["spacing"], df["method"] = spacing, method
            rows.append(df)
    ds.delete()
    return pd.concat(rows, ignore_index=True), timings


def table(results: pd.DataFrame) -> pd.DataFrame:
    scored = results[results.status != "extra"]
    methods = [m for m in (*METHODS, "sam2") if m in set(results.method)]
    out = []
    for spacing, by_spacing in scored.groupby("spacing"):
        for motion in (*MOTIONS, "all"):
            part = by_spacing if motion == "all" else by_spacing[by_spacing.motion == motion]
            row = dict(spacing=spacing, motion=motion, frames=int(len(part[part.method == "sdf"])))
            for method in methods:
                m = part[part.method == method]
                row[f"mask_{method}"] = m.mask_iou.mean()
                row[f"box_{method}"] = m.box_iou.mean()
            extra = results[(results.spacing == spacing) & (results.status == "extra") & (results.method == "sdf")]
            row["extra"] = int(len(extra if motion == "all" else extra[extra.motion == motion]))
            out.append(row)
    return pd.DataFrame(out)


def markdown(t: pd.DataFrame) -> str:
    sam2 = "mask_sam2" in t.columns
    head = "| spacing | motion | frames | mask IoU interpolate | mask IoU copy-previous |"
    head += " mask IoU sam2 |" if sam2 else ""
    head += " box IoU interpolate | box IoU copy-previous |"
    head += " box IoU sam2 |" if sam2 else ""
    lines = [head + " extra |", "|---:|---|---:|" + "---:|" * (6 if sam2 else 4) + "---:|"]
    for r in t.itertuples():
        name = f"**{r.motion}**" if r.motion == "all" else r.motion
        row = f"| {r.spacing} | {name} | {r.frames} | {r.mask_sdf:.3f} | {r.mask_copy:.3f} | "
        row += f"{r.mask_sam2:.3f} | " if sam2 else ""
        row += f"{r.box_sdf:.3f} | {r.box_copy:.3f} | "
        row += f"{r.box_sam2:.3f} | " if sam2 else ""
        lines.append(row + f"{r.extra} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spacings", type=int, nargs="+", default=[2, 5, 10, 20])
    parser.add_argument("--json", help="also write the table (and timings) to this JSON file")
    parser.add_argument("--sam2-model", default=lkv.DEFAULT_VIDEO_MODEL,
                        help="SAM 2 video model: hub id (from the Hugging Face cache) or local folder")
    parser.add_argument("--no-sam2", action="store_true", help="do not try the sam2 method")
    parser.add_argument("--device", default="auto", help="device of the SAM 2 model (auto, cpu, cuda)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    sam2 = None if args.no_sam2 else load_sam2(args.sam2_model, args.device)
    results, timings = run(args.spacings, sam2)
    t = table(results)
    print(f"# labelkit video interpolation benchmark ({platform.machine()}, {os.cpu_count()} CPUs, "
          f"total {time.perf_counter() - t0:.1f} s)\n")
    print(markdown(t))
    print()
    for (spacing, method), (sec, n) in timings.items():
        print(f"interpolate spacing={spacing:>2} method={method:<4}: {n:>3} labels in {sec:.2f} s "
              f"({n / sec:.0f} labels/s, incl. database read + write)")
    if args.json:
        payload = dict(table=t.to_dict(orient="records"),
                       timings={f"{s}-{m}": dict(seconds=v[0], labels=v[1]) for (s, m), v in timings.items()})
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)


if __name__ == "__main__":
    main()
