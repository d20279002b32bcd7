"""Team review load: 4, 8 and 16 annotator processes on one MongoDB server (auth on).

Each annotator is a separate Python process (``tests/team_annotator.py review``)
driving a ``ReviewSession(..., annotator=..., batch_size=...)`` from code: accept
the first proposal, submit, next, until nothing is left to claim. Two paces:

* ``paced``: a think time of 0.5-2 s (uniform) before each decision, like a person;
* ``flat``: no think time (the server and the claim protocol at full load).

Per run: submits/s (all annotators, from the first submit's start to the last
submit's end), p50 / p99 submit latency (``submit()`` call to return: the
conditional write, moving on, and claiming the next batch when one ends), claim
conflicts (claim attempts lost to another annotator), and the exactly-once check
counted in the database (every sample ``done``, one acknowledged submit per
sample across all logs, ``reviewed_by`` = the annotator that submitted it).

Usage::

    .venv/bin/python bench/team.py                     # 4, 8, 16 x paced, flat
    .venv/bin/python bench/team.py --annotators 4 --samples 100 --modes flat
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKER = str(ROOT / "tests" / "team_annotator.py")


def _env(uri: str) -> dict:
    env = os.environ.copy()
    env.update(FIFTYONE_DATABASE_URI=uri, FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_DATABASE_VALIDATION="false")
    env.pop("FIFTYONE_DATABASE_DIR", None)
    return env


def run(server, k: int, n: int, mode: str, batch: int, tmp: Path) -> dict:
    import pymongo

    name = f"bench-team-{k}-{mode}"
    env = _env(server.uri)
    subprocess.run([sys.executable, WORKER, "setup", name, str(n), str(tmp / name)], env=env, check=True,
                   capture_output=True)
    pace = "0.5,2.0" if mode == "paced" else "0,0"
    logs = [tmp / f"{name}-{i}.jsonl" for i in range(k)]
    t0 = time.time()
    procs = [subprocess.Popen([sys.executable, WORKER, "review", name, f"ann{i:02d}", str(logs[i]),
                               "--batch", str(batch), "--pace", pace], env=env) for i in range(k)]
    for p in procs:
        p.wait()
    wall = time.time() - t0
    events = [json.loads(line) for log in logs if log.exists() for line in log.read_text().splitlines()]
    submits = [e for e in events if e["ev"] == "submit"]
    lat = sorted((e["t1"] - e["t0"]) * 1e3 for e in submits)
    span = max(e["t1"] for e in submits) - min(e["t0"] for e in submits)
    conflicts = sum(e.get("conflicts", 0) for e in events if e["ev"] == "end")
    with pymongo.MongoClient(server.uri) as c:
        db = c["fiftyone"]
        coll = db[db["datasets"].find_one({"name": name})["sample_collection_name"]]
        docs = list(coll.find({}, {"review_status": 1, "reviewed_by": 1}))
    who = {e["id"]: e["who"] for e in submits}
    per_id = Counter(e["id"] for e in submits)
    exactly_once = (
        len(docs) == n
        and all(d.get("review_status") == "done" for d in docs)
        and len(submits) == n and set(per_id.values()) == {1}
        and all(who.get(str(d["_id"])) == d.get("reviewed_by") for d in docs)
    )

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    return {"annotators": k, "mode": mode, "samples": n, "submits": len(submits),
            "submits_per_s": len(submits) / span if span > 0 else float("nan"),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "conflicts": conflicts,
            "exactly_once": exactly_once, "wall_s": wall,
            "busiest": max(Counter(e["who"] for e in submits).values()),
            "idlest": min(Counter(e["who"] for e in submits).values())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotators", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--modes", nargs="+", default=["paced", "flat"], choices=["paced", "flat"])
    p.add_argument("--samples", type=int, default=200, help="samples per flat run")
    p.add_argument("--paced-per-annotator", type=int, default=8, help="paced runs: samples per annotator")
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    from labelkit.testing import start_mongod

    tmp = Path(tempfile.mkdtemp(prefix="labelkit-bench-team-"))
    server = start_mongod(auth=True, data_dir=tmp / "db")
    rows = []
    try:
        print(f"server 127.0.0.1:{server.port} (auth on), {os.cpu_count()} CPUs", flush=True)
        print(f"{'annot':>5} {'mode':>6} {'samples':>7} {'submits/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'conflicts':>9} {'exactly-once':>12} {'min-max/annot':>13} {'wall s':>6}", flush=True)
        for k in args.annotators:
            for mode in args.modes:
                n = args.samples if mode == "flat" else k * args.paced_per_annotator
                r = run(server, k, n, mode, args.batch, tmp)
                rows.append(r)
                print(f"{k:>5} {mode:>6} {n:>7} {r['submits_per_s']:>9.1f} {r['p50_ms']:>7.1f} "
                      f"{r['p99_ms']:>7.1f} {r['conflicts']:>9} {str(r['exactly_once']):>12} "
                      f"{r['idlest']:>6}-{r['busiest']:<6} {r['wall_s']:>6.1f}", flush=True)
    finally:
        server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["exactly_once"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
