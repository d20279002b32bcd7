"""Team review on a real MongoDB server with authentication: annotators in separate processes.

A module-scoped fixture starts a standalone ``mongod --auth`` (labelkit.testing.start_mongod)
and stops it by PID. Every annotator is a subprocess (its own kernel) running
``tests/team_annotator.py`` with ``FIFTYONE_DATABASE_URI`` of that server; the
checks count in the database with pymongo directly (not through labelkit).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from labelkit.testing import start_mongod

WORKER = str(Path(__file__).with_name("team_annotator.py"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_mongod(auth=True, data_dir=tmp_path_factory.mktemp("team-db"))
    yield srv
    srv.stop()
    assert not srv.running()


def _env(uri: str) -> dict:
    env = os.environ.copy()
    env["FIFTYONE_DATABASE_URI"] = uri
    env.pop("FIFTYONE_DATABASE_DIR", None)
    env["FIFTYONE_DO_NOT_TRACK"] = "true"
    env["FIFTYONE_DATABASE_VALIDATION"] = "false"
    return env


def _setup(server, name: str, n: int, tmp: Path) -> None:
    r = subprocess.run([sys.executable, WORKER, "setup", name, str(n), str(tmp / name)],
                       env=_env(server.uri), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and f"SETUP {name} {n}" in r.stdout, r.stdout + r.stderr


def _annotator(server, name: str, who: str, log: Path, *extra: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, WORKER, "review", name, who, str(log), *extra],
                            env=_env(server.uri), text=True, **popen)


def _collection(server, name: str):
    import pymongo

    client = pymongo.MongoClient(server.uri)
    db = client["fiftyone"]
    coll = db["datasets"].find_one({"name": name})["sample_collection_name"]
    return client, db[coll]


def _events(*logs: Path) -> list[dict]:
    out = []
    for log in logs:
        if log.exists():
            out += [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return out


def _wait(procs, timeout=150) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        p.wait(timeout=max(1, deadline - time.monotonic()))
        assert p.returncode == 0, f"annotator exited with {p.returncode}"


def _check_exactly_once(server, name: str, n: int, events: list[dict]) -> None:
    client, coll = _collection(server, name)
    with client:
        docs = list(coll.find({}, {"review_status": 1, "reviewed_by": 1, "claimed_by": 1, "ground_truth": 1}))
    assert len(docs) == n
    assert Counter(d.get("review_status") for d in docs) == {"done": n}  # counted in the database
    submits = [e for e in events if e["ev"] == "submit"]
    by_id = Counter(e["id"] for e in submits)
    assert len(submits) == n and set(by_id.values()) == {1}, "a sample was submitted twice"
    who = {e["id"]: e["who"] for e in submits}
    for d in docs:
        assert d["reviewed_by"] == who[str(d["_id"])]
        assert d.get("claimed_by") is None  # every claim was finished by its submit
        assert len(d["ground_truth"]["detections"]) == 1


@pytest.mark.parametrize("k, n", [(2, 16), pytest.param(4, 32, marks=pytest.mark.slow)])
def test_annotators_in_separate_processes_review_every_sample_exactly_once(server, tmp_path, k, n):
    name = f"team-{k}"
    _setup(server, name, n, tmp_path)
    logs = [tmp_path / f"a{i}.jsonl" for i in range(k)]
    procs = [_annotator(server, name, f"ann{i}", logs[i], "--batch", "3") for i in range(k)]
    _wait(procs)
    events = _events(*logs)
    _check_exactly_once(server, name, n, events)
    holders = defaultdict(set)
    for e in events:
        if e["ev"] == "claim":
            holders[e["id"]].add(e["who"])
    # no sample was ever in two annotators' claims (no claim expired in this run)
    assert len(holders) == n and all(len(h) == 1 for h in holders.values()), holders
    # the work was shared (not necessarily by all k: on a loaded machine a late-starting
    # process may find everything claimed already, which is correct behaviour)
    assert len({e["who"] for e in events if e["ev"] == "submit"}) >= 2


@pytest.mark.slow
def test_a_killed_annotators_claims_expire_and_are_taken_over(server, tmp_path):
    name, n, ttl = "team-kill", 8, 2.0
    _setup(server, name, n, tmp_path)
    log_a, log_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a = _annotator(server, name, "ana", log_a, "--batch", "3", "--ttl", str(ttl), "--hold",
                   stdout=subprocess.PIPE)
    assert a.stdout.readline().strip() == "HOLDING"
    held = [e for e in _events(log_a) if e["ev"] == "claim"]
    assert len(held) == 3
    client, coll = _collection(server, name)
    with client:
        assert coll.count_documents({"claimed_by": "ana"}) == 3
        os.kill(a.pid, signal.SIGKILL)  # a kernel that vanished: no release, no renewal
        a.wait()
        killed_at = time.time()
        time.sleep(ttl + 0.5)
        b = _annotator(server, name, "bob", log_b, "--batch", "4")
        _wait([b])
    events = _events(log_b)
    _check_exactly_once(server, name, n, events)
    taken = {e["id"]: e for e in events if e["ev"] == "claim"}
    for e in held:
        assert e["id"] in taken, "the killed annotator's sample never returned to the pool"
        assert taken[e["id"]]["at"] >= max(e["exp"], killed_at) - 0.05  # never while ana's claim lived


@pytest.mark.slow
def test_a_late_submit_after_takeover_is_refused_and_changes_nothing(server, tmp_path):
    name, n, ttl = "team-late", 4, 1.5
    _setup(server, name, n, tmp_path)
    log_a, log_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    # ana claims 2 samples, then her laptop sleeps (SIGSTOP) before she submits
    a = _annotator(server, name, "ana", log_a, "--batch", "2", "--ttl", str(ttl), "--pace", "3,3",
                   "--accept-all")
    deadline = time.monotonic() + 60
    while len([e for e in _events(log_a) if e["ev"] == "claim"]) < 2:
        assert time.monotonic() < deadline and a.poll() is None
        time.sleep(0.05)
    os.kill(a.pid, signal.SIGSTOP)
    try:
        time.sleep(ttl + 0.5)
        b = _annotator(server, name, "bob", log_b, "--batch", "4")
        _wait([b])
        client, coll = _collection(server, name)
        with client:
            before = {str(d["_id"]): d for d in coll.find({})}
    finally:
        os.kill(a.pid, signal.SIGCONT)
    _wait([a])
    refused = [e for e in _events(log_a) if e["ev"] == "refused"]
    assert not [e for e in _events(log_a) if e["ev"] == "submit"]
    assert refused, "ana's late submit was not refused"
    msg = refused[0]["msg"]
    assert "'bob'" in msg and refused[0]["id"] in msg and "NOT saved" in msg and "next" in msg
    client, coll = _collection(server, name)
    with client:
        after = {str(d["_id"]): d for d in coll.find({})}
    assert after == before  # bob's work, byte for byte
    assert all(d["reviewed_by"] == "bob" and len(d["ground_truth"]["detections"]) == 1 for d in after.values())


def test_doctor_names_the_server_and_says_auth_is_on(server):
    # doctor's database checks, in a process whose FiftyOne reads this server's URI
    code = "from labelkit.cli.doctor import check_database\nfor c in check_database(): print(c.line())"
    r = subprocess.run([sys.executable, "-c", code], env=_env(server.uri),
                       capture_output=True, text=True, timeout=180)
    assert "FAIL" not in r.stdout and "FiftyOne connects" in r.stdout, r.stdout + r.stderr
    assert f"database: server 127.0.0.1:{server.port}, MongoDB 6.0" in r.stdout, r.stdout + r.stderr
    assert "auth on, user 'labelkit'" in r.stdout


@pytest.mark.parametrize("what", ["wrong password", "nothing listening"])
def test_doctor_says_what_is_wrong_with_the_server(server, what):
    from labelkit.cli.doctor import FAIL, check_server
    from labelkit.store.server import free_port, make_uri

    if what == "wrong password":
        uri = make_uri("127.0.0.1", server.port, "labelkit", "not-the-password")
        expect = f"authentication failed for user 'labelkit' on 127.0.0.1:{server.port}"
    else:
        port = free_port()
        uri = make_uri("127.0.0.1", port, "labelkit", server.password)
        expect = f"no MongoDB server at 127.0.0.1:{port}"
    c = check_server(uri)
    assert c.status == FAIL and expect in c.what and c.fix
    assert "FIFTYONE_DATABASE_URI" in c.fix


def test_serve_db_prints_a_uri_that_connects_and_stops_cleanly_on_ctrl_c(tmp_path):
    import pymongo

    data = tmp_path / "db"
    p = subprocess.Popen([sys.executable, "-m", "labelkit.cli.main", "serve-db", "--data", str(data),
                          "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines, uri, pid = [], None, None
        deadline = time.monotonic() + 60
        while uri is None and time.monotonic() < deadline:
            line = p.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if "(pid " in line:
                pid = int(line.split("(pid ")[1].split(")")[0])
            if line.startswith("FIFTYONE_DATABASE_URI="):
                uri = line.strip().split("=", 1)[1]
        assert uri and "authSource=admin" in uri and pid
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as c:
            c["fiftyone"]["probe"].insert_one({"x": 1})
            assert c["fiftyone"]["probe"].count_documents({}) == 1
        with pymongo.MongoClient(uri.replace(uri.split(":")[2].split("@")[0], "bad"),
                                 serverSelectionTimeoutMS=5000) as c:
            with pytest.raises(pymongo.errors.OperationFailure):
                c["fiftyone"]["probe"].count_documents({})
        p.send_signal(signal.SIGINT)  # Ctrl+C
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out
    assert "stopped cleanly" in out
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # mongod is gone
    assert json.loads((data / "serve-db.json").read_text())["user"] == "labelkit"
    assert oct((data / "serve-db.json").stat().st_mode & 0o777) == "0o600"


# ------------------------------------------------- in-process: progress, the Labeler's team panel
@pytest.fixture
def small_ds(coins_dir, dataset_name):
    import labelkit as lk

    return lk.load_images(coins_dir, name=dataset_name)


def test_progress_counts_reviewed_claimed_free_and_per_annotator(small_ds):
    import labelkit as lk

    a = lk.ReviewSession(small_ds, proposals=None, annotator="<b>ana</b>", batch_size=2, classes=["coin"])
    b = lk.ReviewSession(small_ds, proposals=None, annotator="bob", batch_size=1, classes=["coin"])
    assert not set(a._ids) & set(b._ids)
    p = lk.progress(small_ds, proposals=None)
    assert (p.total, p.reviewed, p.claimed, p.free) == (3, 0, 3, 0)
    a.add_box([10, 10, 60, 60], "coin")
    a.submit()
    p = lk.progress(small_ds, proposals=None)
    assert (p.reviewed, p.claimed, p.free) == (1, 2, 0)
    ana = p.annotators["<b>ana</b>"]
    assert (ana.done, ana.claimed) == (1, 1) and ana.median_seconds is not None
    assert p.annotators["bob"].claimed == 1
    html = p._repr_html_()
    assert "&lt;b&gt;ana&lt;/b&gt;" in html and "<b>ana</b>" not in html
    assert p.plot() is not None
    b.close()  # gives bob's claim back
    assert lk.progress(small_ds, proposals=None).free == 1
    a.close()


def test_single_user_review_writes_no_claim_fields(small_ds):
    import labelkit as lk

    s = lk.ReviewSession(small_ds, proposals=None, classes=["coin"])
    assert s.claims is None and len(s) == 3
    s.submit()
    assert "claimed_by" not in small_ds.get_field_schema()


def test_labeler_with_an_annotator_claims_and_shows_the_team_panel(small_ds):
    import labelkit as lk

    other = lk.ReviewSession(small_ds, proposals=None, annotator="bob", batch_size=1, classes=["coin"])
    w = lk.Labeler(small_ds, proposals=None, annotator="ana", classes=["coin"], batch_size=1)
    assert w.session.claims is not None and w.session.sample_id != other.sample_id
    assert "1 claimed" in w._team.value or "2 claimed" in w._team.value
    w.session.submit()
    assert "1/3 reviewed" in w._team.value and "ana 1" in w._team.value
    assert w.session.sample_id != other.sample_id  # the next claim skipped bob's sample
    w.session.close()
    other.close()
