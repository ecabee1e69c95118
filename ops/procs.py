"""Starting, waiting for and stopping child processes (node, app, services)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable


# Ports handed out by this process. They are chosen below Linux's ephemeral range (32768+ by
# default): a port the kernel picked with bind(0) can, a moment later, be the source port of
# any outgoing connection on the machine, and the server meant to listen there then fails
# with "address already in use". The range also stays clear of the well-known ports a
# demo or a user's node takes (CometBFT's 26656-26660, 18000/18001, 11434, 9090).
_LISTEN_RANGE = (20000, 25999)
_handed_out: set[int] = set()
_random = random.SystemRandom()


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now."""
    with socket.socket() as sock:
        # A stopped server's connections linger in TIME_WAIT; only a listener makes the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that is free now, never handed out before by this process, and
    outside the ephemeral range that outgoing connections take their source ports from."""
    low, high = _LISTEN_RANGE
    for _ in range(200):
        port = _random.randint(low, high)
        if port not in _handed_out and port_free(port):
            _handed_out.add(port)
            return port
    with socket.socket() as sock:  # the range is crowded: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `cmd` in its own process group, output appended to `log_path` (owner-only: a
    service's output may carry prompts and results)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, start_new_session=True)


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None,
               log_path: Path | None = None) -> None:
    """Poll `check` until true; fail early if `proc` died, with its log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}{_tail(log_path)}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s{_tail(log_path)}")


def _tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return ""
    return "\n--- last lines of " + str(log_path) + " ---\n" + "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def stop(proc: subprocess.Popen | None, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal the process group, wait, then SIGKILL whatever is left."""
    if proc is None or proc.poll() is not None:
        _reap_group(proc)
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    _reap_group(proc)


def _reap_group(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def processes_mentioning(marker: str) -> list[str]:
    """Command lines of live processes (other than this one) with `marker` in their arguments."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it exited while we looked
        if marker in text and cmdline.parent.name != str(os.getpid()):
            found.append(text.strip())
    return found


def kill9(proc: subprocess.Popen) -> None:
    """Crash a process the hard way (its whole group), as a power cut would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)
