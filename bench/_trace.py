"""Hop-by-hop timestamps of the kernel's IOPub messages for ``bench/browser.py --trace``.

Three places log every IOPub message they pass on, keyed by the message's
``msg_id`` (epoch milliseconds, one JSON line each):

* the kernel, in its IOPub thread, at the moment the frames go to ZMQ
  (:func:`install_kernel`, run in the bench notebook);
* the Jupyter server, when ``handle_outgoing_message`` receives the frames from ZMQ
  and after it has handed them to the websocket (:func:`install_server`, run from a
  ``--config`` file of the server);
* the page, when its websocket delivers the frame (``PAGE_INIT_JS``, an init script
  that wraps ``window.WebSocket`` before JupyterLab creates one).

Diagnostics only: nothing here is used by labelkit.
"""

from __future__ import annotations

import json
import re
import threading
import time

_RENDER = re.compile(rb"labelkit-render-(\d+)")
_METHOD = re.compile(rb'"method":\s*"(\w+)"')
_DELIM = b"<IDS|MSG>"


def describe(frames) -> dict | None:
    """``msg_id``, type, size, comm method and render marker of a message's ZMQ frames
    (identities, the delimiter, signature, header, parent, metadata, content, buffers)."""
    parts = [bytes(p) if not isinstance(p, bytes) else p for p in frames]
    try:
        i = parts.index(_DELIM)
        header = json.loads(parts[i + 2])
        content = parts[i + 5]
    except (ValueError, IndexError, json.JSONDecodeError):
        return None
    render = _RENDER.search(content)
    method = _METHOD.search(content)
    return {
        "msg_id": header.get("msg_id"),
        "type": header.get("msg_type"),
        "bytes": sum(len(p) for p in parts[i + 1:]),
        "buffers": len(parts) - (i + 6),
        "method": method.group(1).decode() if method else None,
        "render": int(render.group(1)) if render else None,
    }


def _writer(path: str):
    lock = threading.Lock()
    f = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    def write(rec: dict) -> None:
        with lock:
            f.write(json.dumps(rec) + "\n")

    return write


def install_kernel(path: str) -> None:
    """Log each IOPub message of this kernel when its IOPub thread sends it to ZMQ."""
    from ipykernel.iostream import IOPubThread

    write = _writer(path)
    orig = IOPubThread._really_send

    def _really_send(self, msg, *args, **kwargs):
        t = time.time() * 1e3
        orig(self, msg, *args, **kwargs)
        rec = describe(msg)
        if rec is not None:
            rec.update(hop="kernel_send", t=t, t_end=time.time() * 1e3)
            write(rec)

    IOPubThread._really_send = _really_send


def install_server(path: str) -> None:
    """Log each message the Jupyter server forwards from a kernel to a websocket."""
    from jupyter_server.services.kernels.connection.channels import (
        ZMQChannelsWebsocketConnection as C,
    )

    write = _writer(path)
    orig = C.handle_outgoing_message

    def handle_outgoing_message(self, stream, outgoing_msg):
        t = time.time() * 1e3
        orig(self, stream, outgoing_msg)
        rec = describe(outgoing_msg)
        if rec is not None:
            rec.update(hop="server", t=t, t_end=time.time() * 1e3)
            write(rec)

    C.handle_outgoing_message = handle_outgoing_message


#: run before the page's scripts: every websocket frame's arrival (performance.now()
#: plus timeOrigin = epoch ms), its msg_id and render marker, in window.__lkTrace
PAGE_INIT_JS = r"""
(() => {
  const W = window.WebSocket;
  const log = window.__lkTrace = [];
  const dec = new TextDecoder('latin1');
  function Traced(...a) {
    const ws = new W(...a);
    ws.addEventListener('message', e => {
      const t = performance.timeOrigin + performance.now();
      let s, n;
      if (typeof e.data === 'string') { s = e.data.slice(0, 65536); n = e.data.length; }
      else { const b = new Uint8Array(e.data); n = b.length; s = dec.decode(b.subarray(0, 65536)); }
      const id = /"msg_id":\s*"([^"]+)"/.exec(s);
      const r = /labelkit-render-(\d+)/.exec(s);
      log.push({t, bytes: n, msg_id: id ? id[1] : null, render: r ? parseInt(r[1]) : null});
    });
    return ws;
  }
  Traced.prototype = W.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Traced[k] = W[k];
  window.WebSocket = Traced;
})();
"""


def read(path) -> list[dict]:
    """The records of one log file (empty when it does not exist)."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
