"""``acytoo serve --workers N``: N processes serving one port, supervised.

The supervisor (the process started) opens the listening socket, then forks
the workers, which all accept from it: a connection waiting in the queue is
taken by whichever worker is free, and one worker's death loses nothing
queued. The supervisor only watches:

- a worker that dies is started again, after 0.1 s, doubling up to 10 s
  while it keeps dying within 10 s of starting;
- SIGTERM or SIGINT: the supervisor closes its copy of the socket and passes
  one SIGTERM to every worker, which stops accepting and lets its answers in
  flight finish within the grace period; it exits 0 once all have exited
  (any worker still there 10 s after the grace period is killed);
- a second signal is passed on too, and a worker told twice stops at once.

Workers run in their own process group, so a Ctrl-C in a terminal reaches
the supervisor alone (which then tells each worker once), and each stops by
itself if its supervisor disappears. Log lines name their process: ``main``
for the supervisor, ``w1``... for the workers.

Metrics: the supervisor points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the first worker imports prometheus-client, so ``/metrics``
on any worker adds up every worker's values (and a restarted worker's
counters are kept).

POSIX only (``fork``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

from .._base_errors import InvalidRequestError
from .backends import Backend
from .config import ServerConfig
from .logs import set_worker_name

__all__ = ["parse_workers", "run_workers"]

logger = logging.getLogger("acytoo.server")

_BACKLOG = 1024
_FIRST_DELAY = 0.1
_MAX_DELAY = 10.0
_STABLE_AFTER = 10.0  # a worker that lived this long resets the backoff
_KILL_AFTER_GRACE = 10.0
# getattr: this module is imported (for parse_workers) where SIGCHLD does not exist.
_SIGNALS = {signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGCHLD", signal.SIGTERM)}
_PARENT_CHECK = 1.0


def parse_workers(text: str) -> int:
    """``"auto"`` (one per CPU) or a number >= 1."""
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of workers or 'auto'") from None
    if count < 1:
        raise ValueError("--workers must be at least 1")
    return count


@dataclass
class _Slot:
    number: int
    pid: int = 0
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None


def run_workers(config: ServerConfig, backend: Backend | None = None) -> None:
    """Serve ``config`` with ``config.workers`` processes until SIGTERM or SIGINT."""
    if not hasattr(os, "fork"):
        raise InvalidRequestError("--workers > 1 needs a POSIX system (fork)")
    sock = _listen(config.host, config.port)
    metrics_dir = _metrics_directory()
    try:
        _Supervisor(config, backend, sock).run()
    finally:
        sock.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _metrics_directory() -> str | None:
    """Point prometheus-client's multiprocess mode at a fresh directory (ours to remove)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        # The operator's directory: values of an earlier run must not be added in.
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return None
    directory = tempfile.mkdtemp(prefix="acytoo-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


class _Supervisor:
    def __init__(self, config: ServerConfig, backend: Backend | None, sock: socket.socket) -> None:
        self.config = config
        self.backend = backend
        self.sock: socket.socket | None = sock
        self.slots = [_Slot(number) for number in range(1, config.workers + 1)]
        self.stopping_since: float | None = None
        self.mask: set[int | signal.Signals] = set()

    def run(self) -> None:
        from .runner import page_url, server_url

        set_worker_name("main")
        # Signals are taken synchronously with sigtimedwait: no handler races.
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            for slot in self.slots:
                self._spawn(slot)
            assert self.sock is not None
            host, port = self.sock.getsockname()[:2]
            logger.info("supervising %d workers", len(self.slots))
            print(f"listening on {server_url(str(host), port)}", file=sys.stderr, flush=True)
            if self.config.web:
                print(f"Chat page: {page_url(str(host), port)}", file=sys.stderr, flush=True)
            self._loop()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        logger.info("stopped")

    def _loop(self) -> None:
        while True:
            self._reap()
            now = time.monotonic()
            if self.stopping_since is not None:
                if not any(slot.pid for slot in self.slots):
                    return
                if now - self.stopping_since > self.config.grace_period + _KILL_AFTER_GRACE:
                    self._signal_all(signal.SIGKILL)
            else:
                for slot in self.slots:
                    if slot.restart_at is not None and now >= slot.restart_at:
                        self._spawn(slot)
            received = signal.sigtimedwait(_SIGNALS, self._wait_time(now))
            if received is not None and received.si_signo != signal.SIGCHLD:
                self._on_stop_signal(signal.Signals(received.si_signo))

    def _wait_time(self, now: float) -> float:
        due = [slot.restart_at - now for slot in self.slots if slot.restart_at is not None]
        return max(0.01, min([1.0, *due]))

    def _on_stop_signal(self, signum: signal.Signals) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
            logger.info(
                "%s: stopping the workers (answers in flight get up to %g s)",
                signum.name,
                self.config.grace_period,
            )
            if self.sock is not None:
                self.sock.close()  # the workers close theirs: the port stops accepting
                self.sock = None
            for slot in self.slots:
                slot.restart_at = None
        else:
            logger.warning("%s again: stopping the workers at once", signum.name)
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: signal.Signals) -> None:
        for slot in self.slots:
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signum)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((slot for slot in self.slots if slot.pid == pid), None)
            if slot is None:
                continue
            slot.pid = 0
            _forget_metrics_of(pid)
            if self.stopping_since is not None:
                logger.info("worker w%d exited (%s)", slot.number, _describe(status))
                continue
            lived = time.monotonic() - slot.started
            slot.failures = 0 if lived >= _STABLE_AFTER else slot.failures + 1
            delay = min(_MAX_DELAY, _FIRST_DELAY * 2 ** max(0, slot.failures - 1))
            slot.restart_at = time.monotonic() + delay
            logger.error(
                "worker w%d (pid %d) died (%s); restarting it in %.1f s",
                slot.number,
                pid,
                _describe(status),
                delay,
            )

    def _spawn(self, slot: _Slot) -> None:
        assert self.sock is not None
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.setpgid(0, 0)
                signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
                set_worker_name(f"w{slot.number}")
                code = _work(self.config, self.backend, self.sock, os.getppid())
            except BaseException:
                logger.exception("worker w%d failed", slot.number)
            finally:
                logging.shutdown()
                sys.stderr.flush()
                os._exit(code)
        slot.pid = pid
        slot.started = time.monotonic()
        slot.restart_at = None
        logger.info("worker w%d started (pid %d)", slot.number, pid)


def _work(config: ServerConfig, backend: Backend | None, sock: socket.socket, parent: int) -> int:
    from .runner import _serve_until_stopped

    async def main() -> None:
        watch = asyncio.ensure_future(_watch_parent(parent))
        try:
            await _serve_until_stopped(config, backend, sock=sock)
        finally:
            watch.cancel()

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        logger.warning("stopped without waiting for the answers in flight")
    return 0


async def _watch_parent(parent: int) -> None:
    """Stop gracefully (as on SIGTERM) if the supervisor is gone: no orphans left serving."""
    # Polled: nothing signals a process when its parent dies (short of Linux's prctl).
    while os.getppid() == parent:  # noqa: ASYNC110
        await asyncio.sleep(_PARENT_CHECK)
    logger.warning("the supervisor is gone: stopping")
    os.kill(os.getpid(), signal.SIGTERM)


def _forget_metrics_of(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
