"""labelkit's Jupyter server extension: kernel websockets without Nagle's delay.

Jupyter Server (JupyterLab, Notebook 7, Voila, JupyterHub's single-user servers)
forwards each kernel message to the page as its own small websocket frame, and
leaves Nagle's algorithm on for that TCP connection. A widget event is a burst of
small messages (the kernel's ``busy`` status, then the canvas commands, the render
marker, the list and button updates): after the first one, Linux holds the rest
until the browser acknowledges it, and the browser delays that ACK by up to 40 ms
hoping to piggyback it on data. Measured in ``bench/browser.py --trace``: the
Labeler's accept waited 20-45 ms between the server's hand-off and the page, with
the page's main thread idle. Tornado documents the cure
(``WebSocketHandler.set_nodelay``); Jupyter Server does not call it.

This extension sets ``TCP_NODELAY`` on every kernel websocket of the server it is
loaded in, by wrapping the server's configured
``kernel_websocket_connection_class`` (so a gateway or custom class keeps working).
Nothing else changes: the messages, their order and the protocol are the same.

It is enabled on install (``etc/jupyter/jupyter_server_config.d/labelkit_jupyter.json``
in the environment) and lives outside the ``labelkit`` package so that loading it
costs the server nothing: it imports only the standard library (2 ms), where
``import labelkit`` takes ~0.2 s and loads numpy and Pillow. Where JupyterLab runs in
another environment than the kernel, install labelkit there too; after an editable
install (which skips the config file) run
``jupyter server extension enable --sys-prefix labelkit_jupyter``.
``LABELKIT_JUPYTER_NODELAY=0`` in the server's environment turns it off.
"""

from __future__ import annotations

import os

__all__ = ["nodelay_connection_class", "turned_off"]


def turned_off() -> bool:
    """``LABELKIT_JUPYTER_NODELAY`` is ``0`` (or false / no / off) in this environment."""
    return os.environ.get("LABELKIT_JUPYTER_NODELAY", "1").strip().lower() in ("0", "false", "no", "off")


def nodelay_connection_class(base: type) -> type:
    """A subclass of the kernel websocket connection class ``base`` whose ``connect()``
    first sets ``TCP_NODELAY`` on its websocket (``base`` itself when it already does)."""
    if getattr(base, "_labelkit_nodelay", False):
        return base

    def connect(self, *args, **kwargs):
        handler = getattr(self, "websocket_handler", None)
        try:
            handler.set_nodelay(True)
        except Exception as exc:  # noqa: BLE001 - a closed or odd socket: keep the default
            self.log.debug("labelkit_jupyter: TCP_NODELAY not set: %s", exc)
        return base.connect(self, *args, **kwargs)

    return type(f"NoDelay{base.__name__}", (base,), {
        "connect": connect, "_labelkit_nodelay": True, "__module__": __name__,
        "__doc__": f"{base.__qualname__} with TCP_NODELAY on its websocket (labelkit_jupyter).",
    })


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "labelkit_jupyter"}]


def _load_jupyter_server_extension(serverapp) -> None:
    if turned_off():
        serverapp.log.info("labelkit_jupyter: off (LABELKIT_JUPYTER_NODELAY=0)")
        return
    settings = serverapp.web_app.settings
    base = settings.get("kernel_websocket_connection_class") or serverapp.kernel_websocket_connection_class
    settings["kernel_websocket_connection_class"] = nodelay_connection_class(base)
    serverapp.log.info("labelkit_jupyter: kernel websockets use TCP_NODELAY (%s)", base.__name__)
