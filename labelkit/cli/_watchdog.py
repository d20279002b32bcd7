"""Child processes that never outlive the Python process that started them.

Used by :func:`labelkit.testing.use_private_database` (its ``mongod``) and by
``labelkit demo`` (JupyterLab). Two layers, because a process can die in two ways:

* **It is asked to stop** (normal exit, ``SIGTERM``, ``SIGINT``, ``SIGHUP``):
  :func:`install_stop_handlers` and ``atexit`` stop the child by PID (``SIGTERM``,
  wait, then ``SIGKILL``), chaining any signal handler that was there before.
* **It is killed** (``SIGKILL``, a crash, ``os._exit``): no handler runs. So the
  child is started through a tiny *watchdog* process (:func:`start_watched`, plain
  ``python -c``, no labelkit import) that holds the read end of a pipe whose write
  end only the parent holds. When the parent dies, for any reason, the kernel
  closes that pipe; the watchdog reads end-of-file and stops the child's process
  group (``SIGTERM``, wait, ``SIGKILL``). On Linux the child also gets
  ``PR_SET_PDEATHSIG=SIGTERM`` against the watchdog itself, in case the watchdog
  is killed too.

Why not ``PR_SET_PDEATHSIG`` on the child directly: it fires when the parent
*thread* that forked the child exits (a server started from a worker thread of a
Jupyter kernel would be stopped when that thread ends), it is Linux-only, and it
needs a ``preexec_fn``, which is unsafe in a process that runs threads (kernels,
pymongo's monitors). The pipe works on every POSIX system and from any thread.
Caveat: a child created with ``os.fork()`` (no exec) inherits the pipe's write
end, so the watchdog then waits until that fork has exited too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

# The watchdog program (run as ``python -c WATCHDOG GRACE PID_FD CMD...``). Its stdin
# is the lifeline: end-of-file means the parent is gone or wants the child stopped.
WATCHDOG = r"""# labelkit watchdog: stops its child when its parent dies
import os, signal, subprocess, sys, threading
grace, pid_fd, cmd = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

def _pdeathsig():
    os.setsid()
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass

signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is for the parent to handle
preexec = _pdeathsig if sys.platform.startswith("linux") else os.setsid
child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, preexec_fn=preexec)
os.write(pid_fd, b"%d\n" % child.pid)
os.close(pid_fd)
stopping = threading.Lock()

def stop(*_):
    if not stopping.acquire(blocking=False):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(child.pid, sig)
        except OSError:
            pass
        try:
            child.wait(wait)
            break
        except subprocess.TimeoutExpired:
            pass
    os._exit(0)

for s in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, stop)

def follow():
    code = child.wait()
    if stopping.acquire(blocking=False):
        os._exit(code if code >= 0 else 128 - code)

threading.Thread(target=follow, daemon=True).start()
try:
    while sys.stdin.buffer.read(4096):
        pass
except Exception:
    pass
stop()
"""


class Watched:
    """A child process started through the watchdog (see the module docstring).

    Attributes:
        pid: PID of the child itself (``mongod``, JupyterLab), not of the watchdog.
        watchdog: the watchdog's ``Popen``.
    """

    def __init__(self, watchdog: subprocess.Popen, pid: int, grace: float) -> None:
        self.watchdog = watchdog
        self.pid = pid
        self.grace = grace
        self._lock = threading.Lock()

    def running(self) -> bool:
        """Whether the child is still running."""
        return self.watchdog.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child (and its watchdog) to exit; return the child's exit code."""
        return self.watchdog.wait(timeout)

    def stop(self) -> None:
        """Stop the child by PID: ``SIGTERM``, wait up to ``grace`` s, then ``SIGKILL``.

        Safe to call more than once, from a signal handler, and after the child exited.
        """
        if not self._lock.acquire(blocking=False):
            return  # a stop is already under way (e.g. a signal arrived during atexit)
        try:
            if self.watchdog.poll() is None:
                # while the watchdog runs, its child's PID cannot have been reused
                try:
                    os.killpg(self.pid, signal.SIGTERM)
                except OSError:
                    pass
            _close(self.watchdog.stdin)  # the watchdog escalates to SIGKILL after `grace`
            try:
                self.watchdog.wait(self.grace + 15)
            except subprocess.TimeoutExpired:
                for pid in (self.pid, self.watchdog.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.watchdog.wait(10)
        finally:
            self._lock.release()


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


def start_watched(
    cmd: Sequence[str],
    *,
    grace: float = 10.0,
    stdout: Any = None,
    stderr: Any = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> Watched:
    """Start ``cmd`` in its own session, stopped when this process exits or dies.

    Args:
        cmd: the command (its first item an executable path).
        grace: seconds between ``SIGTERM`` and ``SIGKILL`` when stopping it.
        stdout: ``subprocess`` stdout for the child (``None``: this process's).
        stderr: ``subprocess`` stderr for the child (``None``: this process's).
        env: the child's environment (``None``: this process's).
        cwd: the child's working directory.

    Returns:
        a :class:`Watched` with the child's PID.
    """
    read_fd, write_fd = os.pipe()
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(grace), str(write_fd), *map(str, cmd)],
            stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
            pass_fds=(write_fd,), start_new_session=True,
        )
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        line = f.readline()
    if not line.strip():
        watchdog.wait(30)
        raise OSError(f"could not start {cmd[0]} (watchdog exit code {watchdog.returncode})")
    return Watched(watchdog, int(line), grace)


_STOPS: list[Callable[[], None]] = []
_PREVIOUS: dict[int, Any] = {}


def _on_signal(signum: int, frame: Any) -> None:
    previous = _PREVIOUS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # e.g. KeyboardInterrupt: atexit stops the children if the process ends
        return
    try:
        run_stops()
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def run_stops() -> None:
    """Call every registered ``stop`` (newest first); errors are ignored."""
    for stop in reversed(list(_STOPS)):
        try:
            stop()
        except Exception:  # noqa: BLE001 - a failing stop must not keep the others from running
            pass


def install_stop_handlers(stop: Callable[[], None]) -> None:
    """Run ``stop`` at exit and before ``SIGTERM`` / ``SIGINT`` / ``SIGHUP`` end the process.

    ``stop`` is registered with ``atexit`` and with one handler per signal
    (installed once per process, chaining the handler that was there before):

    * previous disposition ``SIG_DFL`` (the process would die without Python's
      cleanup, e.g. ``SIGTERM``): call every registered ``stop``, restore
      ``SIG_DFL`` and re-send the signal, so the exit status stays "killed by N";
    * previous Python handler (``SIGINT``'s ``KeyboardInterrupt``, a server's
      graceful-shutdown handler): call it and nothing else. Such a handler either
      ends the process through Python (``KeyboardInterrupt``, ``SystemExit``; then
      ``atexit`` calls ``stop``) or decides that the process carries on (a caught
      ``KeyboardInterrupt``, a kernel interrupt), and then the child must keep
      running;
    * ignored signals stay ignored (no handler: children would lose ``SIG_IGN``).

    Outside the main thread only ``atexit`` is registered (Python allows signal
    handlers only in the main thread); the watchdog still covers every way of dying.
    """
    import atexit

    _STOPS.append(stop)
    atexit.register(stop)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if sig is None or sig in _PREVIOUS:
            continue
        previous = signal.getsignal(sig)
        if previous in (signal.SIG_IGN, None):
            continue  # ignored, or set from C: leave it alone
        _PREVIOUS[sig] = previous
        signal.signal(sig, _on_signal)
