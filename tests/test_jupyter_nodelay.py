"""labelkit_jupyter: the Jupyter server extension that sets TCP_NODELAY on kernel websockets.

A real ``jupyter server`` (this environment's, with the extension enabled the way an
install enables it) and a real websocket to a real kernel; the server reports the
socket option of its end of the connection, read with ``getsockopt`` right after
the handler opened (an instrumentation file on ``JUPYTER_CONFIG_PATH``).
``LABELKIT_JUPYTER_NODELAY=0`` is the control: the same server leaves Nagle on.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

#: written into the server's config path: after a kernel websocket opened, the
#: server records TCP_NODELAY of its own socket for that connection
_PROBE = '''
import json, socket
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler as H
_orig = H.open
async def _probe_open(self, *args, **kwargs):
    await _orig(self, *args, **kwargs)
    sock = self.ws_connection.stream.socket
    with open({out!r}, "a") as f:
        f.write(json.dumps({{"nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
                            "cls": type(self.connection).__name__}}) + "\\n")
H.open = _probe_open
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_socket_option(tmp_path: Path, extra_env: dict[str, str]) -> tuple[dict, str]:
    """Start a jupyter server, a kernel and one websocket to it; return what the server
    recorded for its end of the websocket, and the server's log."""
    out = tmp_path / "nodelay.jsonl"
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "jupyter_server_config.py").write_text(_PROBE.format(out=str(out)))
    port, token = _free_port(), secrets.token_hex(8)
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(conf), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "FIFTYONE_DO_NOT_TRACK": "true", **extra_env}
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}", "--allow-root"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
        base = f"http://127.0.0.1:{port}"
        kernel_id = None
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"jupyter server did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.3)
            req = urllib.request.Request(f"{base}/api/kernels?token={token}", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
            kernel_id = json.loads(urllib.request.urlopen(req, timeout=60).read())["id"]

            import asyncio

            from tornado.websocket import websocket_connect

            async def connect():
                ws = await websocket_connect(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={token}")
                deadline = time.monotonic() + 60
                while not out.exists() and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                ws.close()

            asyncio.run(connect())
            assert out.exists(), f"the server recorded no websocket: {log_path.read_text()[-2000:]}"
            return json.loads(out.read_text().splitlines()[0]), log_path.read_text()
        finally:
            if kernel_id is not None:
                try:
                    urllib.request.urlopen(urllib.request.Request(
                        f"{base}/api/kernels/{kernel_id}?token={token}", method="DELETE"), timeout=20)
                except OSError:
                    pass
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_installed_extension_sets_tcp_nodelay_on_the_kernel_websocket(tmp_path):
    got, log = _server_socket_option(tmp_path, {})
    assert "labelkit_jupyter: kernel websockets use TCP_NODELAY" in log, log[-2000:]
    assert got["nodelay"] != 0, got
    assert got["cls"] == "NoDelayZMQChannelsWebsocketConnection"


def test_without_the_extension_jupyter_server_leaves_nagle_on(tmp_path):
    """The control: what the extension fixes is really there (Jupyter Server's default)."""
    got, log = _server_socket_option(tmp_path, {"LABELKIT_JUPYTER_NODELAY": "0"})
    assert "labelkit_jupyter: off" in log
    assert got["nodelay"] == 0, got
    assert got["cls"] == "ZMQChannelsWebsocketConnection"


def test_nodelay_class_keeps_the_configured_class_and_wraps_once():
    from jupyter_server.gateway.connections import GatewayWebSocketConnection
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

    import labelkit_jupyter as ext

    for base in (ZMQChannelsWebsocketConnection, GatewayWebSocketConnection):
        cls = ext.nodelay_connection_class(base)
        assert issubclass(cls, base) and cls is not base
        assert cls.kernel_ws_protocol is base.kernel_ws_protocol
        assert ext.nodelay_connection_class(cls) is cls  # loaded twice: not wrapped twice


def test_extension_does_not_import_labelkit():
    """The server imports it at start-up: it must not pull in labelkit (numpy, Pillow, ...)."""
    code = ("import sys, labelkit_jupyter; "
            "print(sorted(m for m in ('labelkit', 'fiftyone', 'torch', 'numpy', 'PIL') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("off", [False, True])
def test_doctor_reports_the_extension(monkeypatch, off):
    from labelkit.cli.doctor import NOTE, OK, check_jupyter

    if off:
        monkeypatch.setenv("LABELKIT_JUPYTER_NODELAY", "0")
    else:
        monkeypatch.delenv("LABELKIT_JUPYTER_NODELAY", raising=False)
    checks = check_jupyter()
    assert checks[0].status == OK and "labelkit_jupyter enabled" in checks[0].what
    assert (len(checks) == 2 and checks[1].status == NOTE and "LABELKIT_JUPYTER_NODELAY=0" in checks[1].what) == off
