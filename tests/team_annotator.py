"""One annotator in a process of its own (a kernel), for the team tests and ``bench/team.py``.

Run with ``FIFTYONE_DATABASE_URI`` pointing at the shared server::

    python tests/team_annotator.py setup DATASET N IMAGE_DIR [--overlap K --fraction F]
    python tests/team_annotator.py review DATASET NAME LOG [--batch 5] [--ttl 300]
        [--pace 0.5,2.0] [--max N] [--hold] [--accept-all] [--overlap K --fraction F]
    python tests/team_annotator.py stdin DATASET NAME [--batch 5] [--ttl 300] [--overlap K ...]

``setup`` makes a dataset of N small images, each with two proposals (with
``--overlap``, it also prepares the study as a host would: records the setting,
declares the review, claim and overlap fields, marks the samples). ``review``
claims and submits (accept the first proposal, reject the rest) until nothing is
left (or ``--max`` submits), writing one JSON line per event to LOG, flushed at
once so a SIGKILL loses nothing that was written: ``{"ev": "claim", "id",
"at" (server claimed_at, epoch s), "exp"}``, ``{"ev": "submit", "id", "t0", "t1"}``
(client epoch seconds around the acknowledged ``submit()``; ``"copy": true`` for
an overlap copy, whose claims are logged as ``{"ev": "copy", ...}``), ``{"ev":
"refused", "id", "msg"}``, ``{"ev": "end", "conflicts"}``. ``--hold`` claims, logs,
prints ``HOLDING`` and sleeps (a kernel that went away without closing).
``--overlap K --fraction F`` opens the session with ``overlap=K, overlap_fraction=F``.

``stdin`` opens one team session and reads one command per line (for the outage
tests; every reply is one flushed line): ``submit`` (accept the first instance,
submit; prints ``ACK <id> copy|primary`` or ``REFUSED <id>``, then ``DB <db_status
or ->``), ``sync`` (``SYNC <ok> <replayed>``), ``lost`` (``LOST <ids, comma-separated
or ->>``), ``where`` (``AT <id> copy|primary <review_status>``), ``quit``. It
prints ``READY <collection> <replayed>`` once open.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import random
import sys
import time

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")


def _epoch(dt) -> float:
    return calendar.timegm(dt.utctimetuple()) + dt.microsecond / 1e6


def setup(name: str, n: int, image_dir: str, overlap: int | None = None, fraction: float = 1.0) -> None:
    import fiftyone as fo
    import numpy as np
    from PIL import Image

    os.makedirs(image_dir, exist_ok=True)
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    ds = fo.Dataset(name)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        path = os.path.join(image_dir, f"img{i:04d}.png")
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
        dets = [
            fo.Detection(label="ball", bounding_box=[0.1, 0.1, 0.3, 0.3],
                         mask=np.ones((14, 19), bool), confidence=0.9),
            fo.Detection(label="mug", bounding_box=[0.5, 0.5, 0.3, 0.3],
                         mask=np.ones((14, 19), bool), confidence=0.4),
        ]
        samples.append(fo.Sample(filepath=path, metadata=fo.ImageMetadata(width=64, height=48),
                                 predictions=fo.Detections(detections=dets)))
    ds.add_samples(samples)
    ds.persistent = True
    if overlap:
        from labelkit.store import overlap as ov
        from labelkit.store.claims import declare_claim_fields
        from labelkit.store.image import ReviewStore

        store = ReviewStore(ds, proposals="predictions", labels="ground_truth")
        declare_claim_fields(ds)
        setting = ov.record(ds, overlap, fraction)
        ov.declare_fields(ds, "ground_truth")
        ov.mark(store._collection(), ds, setting)
    print(f"SETUP {name} {len(ds)}", flush=True)


def review(args) -> int:
    from labelkit.errors import ClaimLostError, NothingToClaimError

    log = open(args.log, "a", buffering=1)  # noqa: SIM115 - line-buffered for the whole run

    def write(**ev) -> None:
        log.write(json.dumps(ev) + "\n")
        log.flush()
        os.fsync(log.fileno())

    seen = 0

    def log_claims(s) -> None:
        nonlocal seen
        for kind, sid, at, exp in s.claims.events[seen:]:
            if kind in ("claim", "copy"):
                write(ev=kind, who=args.name, id=sid, at=_epoch(at), exp=_epoch(exp))
        seen = len(s.claims.events)

    try:
        s = _open(args)
    except NothingToClaimError as exc:
        write(ev="end", who=args.name, conflicts=0, nothing=str(exc))
        return 0
    log_claims(s)
    if args.hold:
        print("HOLDING", flush=True)
        time.sleep(3600)
        return 0
    lo, hi = args.pace
    done = 0
    while s.review_status not in ("done", "skipped") and (args.max is None or done < args.max):
        if hi > 0:
            time.sleep(random.uniform(lo, hi))
        sid, copy = s.sample_id, s.is_copy
        if args.accept_all:
            s.accept_all()
        elif s.instances:
            s.accept(0)
        t0 = time.time()
        try:
            s.submit()
        except ClaimLostError as exc:
            write(ev="refused", who=args.name, id=sid, msg=str(exc))
            s.next() if s.index + 1 < len(s) else None
            if s.sample_id == sid:
                break
            continue
        write(ev="submit", who=args.name, id=sid, t0=t0, t1=time.time(), copy=copy)
        done += 1
        log_claims(s)
    write(ev="end", who=args.name, conflicts=s.claims.conflicts, done=done)
    s.close()
    return 0


def _open(args):
    import labelkit as lk

    extra = {}
    if args.overlap:
        extra = {"overlap": args.overlap, "overlap_fraction": args.fraction}
    return lk.ReviewSession(args.dataset, proposals="predictions", labels="ground_truth",
                            annotator=args.name, batch_size=args.batch, claim_ttl=args.ttl,
                            classes=["ball", "mug"], **extra)


def stdin(args) -> int:
    from labelkit.errors import ClaimLostError

    def say(*parts) -> None:
        os.write(1, (" ".join(str(p) for p in parts) + "\n").encode())

    s = _open(args)
    say("READY", s.store.dataset._sample_collection_name, s.store.replayed)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "submit":
            sid, kind = s.sample_id, "copy" if s.is_copy else "primary"
            if s.instances:
                s.accept(0)
            try:
                s.submit()
                say("ACK", sid, kind)
            except ClaimLostError:
                say("REFUSED", sid)
            say("DB", s.db_status or "-")
        elif cmd == "sync":
            ok = s.sync()
            say("SYNC", ok, s.store.replayed)
        elif cmd == "lost":
            say("LOST", ",".join(d.sample_id for d in s.lost) or "-")
            say("DB", s.db_status or "-")
        elif cmd == "where":
            say("AT", s.sample_id, "copy" if s.is_copy else "primary", s.review_status)
        elif cmd == "quit":
            break
    s.close()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("setup")
    a.add_argument("dataset")
    a.add_argument("n", type=int)
    a.add_argument("image_dir")
    a.add_argument("--overlap", type=int, default=None)
    a.add_argument("--fraction", type=float, default=1.0)
    b = sub.add_parser("review")
    b.add_argument("dataset")
    b.add_argument("name")
    b.add_argument("log")
    b.add_argument("--batch", type=int, default=5)
    b.add_argument("--ttl", type=float, default=300.0)
    b.add_argument("--pace", type=lambda v: tuple(float(x) for x in v.split(",")), default=(0.0, 0.0))
    b.add_argument("--max", type=int, default=None)
    b.add_argument("--hold", action="store_true")
    b.add_argument("--accept-all", action="store_true", help="accept every proposal (a different decision)")
    c = sub.add_parser("stdin")
    c.add_argument("dataset")
    c.add_argument("name")
    for q in (b, c):
        q.add_argument("--overlap", type=int, default=None)
        q.add_argument("--fraction", type=float, default=1.0)
    c.add_argument("--batch", type=int, default=5)
    c.add_argument("--ttl", type=float, default=300.0)
    args = p.parse_args(argv)
    if args.cmd == "setup":
        setup(args.dataset, args.n, args.image_dir, args.overlap, args.fraction)
        return 0
    if args.cmd == "stdin":
        return stdin(args)
    return review(args)


if __name__ == "__main__":
    sys.exit(main())
