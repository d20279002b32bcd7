"""Render the sample video ``sample_data/video/`` with per-frame instance ground truth.

Usage::

    .venv/bin/python sample_data/make_sample_video.py [--out sample_data/video]

Writes ``sample.mp4`` (61 frames, 320x240, 10 fps) and ``annotations.json``
(labelkit's COCO-video-like format, see ``labelkit.video.write_video_annotations``:
one RLE instance mask per object and frame, ``track_id``, 1-based ``frame_number``;
``tracks[].motion`` says how each object moves).

Three tracks, drawn back to front on a wooden table (``labelkit.synth``):

* ``ball`` (track 1, ``occlusion``): rolls right-to-left at constant speed *behind*
  the book, fully hidden for a few frames (its ground truth is the visible part
  only, and it has no label while hidden);
* ``book`` (track 2, ``linear``): slides left-to-right at a constant sub-pixel
  speed, rigid;
* ``mug`` (track 3, ``non-linear``): along an S-curve, accelerating then
  braking, while it turns (-35 to +35 degrees) and grows (size 46 to 78).

Everything is deterministic: the same script gives the same frames and masks.
The video is written with OpenCV's ``mp4v`` (MPEG-4 Part 2). If an ``ffmpeg``
executable is on PATH it is re-encoded to H.264 (``libx264``, yuv420p,
faststart), which browsers -- and so the FiftyOne App -- can play; ``mp4v``
decodes fine in OpenCV and ffmpeg but not in browsers.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

from labelkit.io.video import write_video_annotations
from labelkit.synth import scenes as synth

WIDTH, HEIGHT, FPS, N_FRAMES = 320, 240, 10.0, 61
TRACKS = [
    dict(id=1, label="ball", motion="occlusion"),
    dict(id=2, label="book", motion="linear"),
    dict(id=3, label="mug", motion="non-linear"),
]


def placements(frame_number: int) -> list[dict]:
    """Object placements (back to front) of a 1-based frame: ball, book, mug."""
    t = (frame_number - 1) / (N_FRAMES - 1)  # 0..1
    ball_x = 252.0 - 180.0 * t
    ball_size = 36.0
    ball = dict(label="ball", x=ball_x, y=172.0, size=ball_size, seed=21,
                angle=math.degrees((252.0 - ball_x) / (ball_size / 2)))  # rolling
    book = dict(label="book", x=62.0 + 196.0 * t, y=166.0, size=96.0, angle=4.0, seed=12)
    ease = (1.0 - math.cos(math.pi * t)) / 2.0  # accelerate, then brake
    mug = dict(label="mug", x=48.0 + 220.0 * ease, y=70.0 - 26.0 * math.sin(2.0 * math.pi * t),
               size=46.0 + 32.0 * t * t, angle=35.0 * math.sin(math.pi * (t - 0.5)), seed=33)
    return [ball, book, mug]


def render(out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    background = synth.render_background("wood", WIDTH, HEIGHT, seed=5)
    frames: dict[int, list[dict]] = {}
    images = []
    for fn in range(1, N_FRAMES + 1):
        image, objects = synth.render_objects(
            background, placements(fn), light_angle=-2.2, seed=7, min_visible=0.0, min_area=1
        )
        images.append(image)
        frames[fn] = [
            dict(track_id=TRACKS[o["object"]]["id"], label=o["label"], mask=o["mask"]) for o in objects
        ]
    video = out_dir / "sample.mp4"
    _write_mp4(images, video)
    anns = write_video_annotations(
        out_dir / "annotations.json",
        videos=[dict(id=1, file_name=video.name, width=WIDTH, height=HEIGHT, length=N_FRAMES, fps=FPS)],
        frames={1: frames},
        tracks=[dict(t, video_id=1) for t in TRACKS],
        categories=synth.CATEGORY_IDS,
        info=dict(description="labelkit sample video: linear, non-linear and occluded motion",
                  generator="sample_data/make_sample_video.py"),
    )
    return video, anns


def _write_mp4(images: list[np.ndarray], path: Path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:  # H.264 straight from the rendered frames (one lossy step)
        cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-crf", "20", "-preset", "slow", "-movflags", "+faststart",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", str(path)]
        subprocess.run(cmd, input=b"".join(np.ascontiguousarray(i).tobytes() for i in images), check=True)
        return
    print("ffmpeg not found: writing OpenCV's mp4v (plays in OpenCV/ffmpeg, not in browsers)")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video on this machine")
    for img in images:
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "video")
    args = parser.parse_args()
    video, anns = render(args.out)
    print(f"wrote {video} ({video.stat().st_size / 1024:.0f} KiB) and {anns} ({anns.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
