"""The one place where the widget layer calls into FiftyOne: opening the FiftyOne App.

The labeler never reads or writes datasets itself (the session does, through
:mod:`labelkit.store`). Showing the current sample in the FiftyOne App is a
viewer-only action, so it lives in this tiny helper: it launches the App server
once per collection with ``fo.launch_app(..., auto=False)`` in a background thread
(starting the server takes seconds; the notebook must not block) and then points
the App's modal at the sample.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_LOCK = threading.Lock()
_SESSIONS: dict[str, object] = {}


def _key(samples) -> str:
    return getattr(samples, "_root_dataset", samples).name


def app_url(samples, sample_id: str | None = None) -> str | None:
    """The URL of a running App session for ``samples`` (with the sample's modal), or
    None if no App was launched from labelkit in this process."""
    s = _SESSIONS.get(_key(samples))
    if s is None:
        return None
    url = str(getattr(s, "url", "") or "")
    if sample_id and url:
        url += ("&" if "?" in url else "?") + f"id={sample_id}"
    return url


def open_in_app(
    samples,
    sample_id: str | None,
    on_ready: Callable[[str | None, str | None], None],
    launch: Callable | None = None,
) -> threading.Thread:
    """Open ``sample_id`` of ``samples`` in the FiftyOne App without blocking.

    Args:
        samples: the dataset or view under review.
        sample_id: the sample to show in the App's modal (None: the grid).
        on_ready: called from the worker thread as ``on_ready(url, error)`` once
            the App is up (``error`` is None) or failed (``url`` is None and
            ``error`` says why in plain words).
        launch: the launcher (default ``fiftyone.launch_app``; tests pass a fake).

    Returns:
        the started worker thread.
    """

    def work() -> None:
        try:
            with _LOCK:
                key = _key(samples)
                session = _SESSIONS.get(key)
                if session is None:
                    launcher = launch
                    if launcher is None:
                        import fiftyone as fo

                        launcher = fo.launch_app
                    session = launcher(samples, sample_id=sample_id, auto=False)
                    _SESSIONS[key] = session
                elif sample_id is not None:
                    session.sample_id = sample_id
            on_ready(app_url(samples, sample_id), None)
        except Exception as exc:  # noqa: BLE001 - shown in the status line, never raised
            on_ready(None, f"could not start the FiftyOne App ({type(exc).__name__}: {exc})")

    t = threading.Thread(target=work, name="labelkit-app", daemon=True)
    t.start()
    return t
