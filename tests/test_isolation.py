"""Tests run against a private database: a FiftyOne session elsewhere on the machine is not touched."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

OUTSIDE = textwrap.dedent(
    """
    import sys, time
    import fiftyone as fo
    ds = fo.Dataset("someone-elses-dataset", persistent=True, overwrite=True)
    print("ready", flush=True)
    sys.stdin.readline()  # keep the service running until the test is done
    fo.delete_dataset("someone-elses-dataset")
    """
)


def test_a_users_running_fiftyone_database_is_not_shared(tmp_path, fo):
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_DATABASE_URI"}
    env["FIFTYONE_DATABASE_DIR"] = str(tmp_path / "users-db")
    user = subprocess.Popen([sys.executable, "-c", OUTSIDE], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert user.stdout.readline().strip() == "ready"
        assert "someone-elses-dataset" not in fo.list_datasets()
        assert fo.config.database_uri == os.environ["FIFTYONE_DATABASE_URI"]
        ours = fo.Dataset()
        assert ours.name in fo.list_datasets()
    finally:
        user.communicate("\n", timeout=60)
    assert user.returncode == 0
