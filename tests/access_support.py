"""Helpers for the access tests (CORS, rate limits): a counter for any
number of threads, a clock the tests move by hand, and a throwaway
``redis-server`` on 127.0.0.1. Requests go through conftest's ``Client``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from framework_support import free_port


class Counter:
    """Counts calls from any number of threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self) -> int:
        with self._lock:
            self.count += 1
            return self.count


# -- A clock the test drives ------------------------------------------------


class Clock:
    """A monotonic clock moved by hand: ``serveract.MemoryLimiter(clock=clock)``.

    Calling it returns the current reading in seconds, as ``time.monotonic``.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds

    def at(self, start: float, offset: float) -> None:
        """Set the reading to ``start + offset`` (never backwards)."""
        assert start + offset >= self.now
        self.now = start + offset


# -- A throwaway redis-server -----------------------------------------------

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class RedisServer:
    """A ``redis-server`` subprocess on 127.0.0.1, persistence off."""

    popen: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server and wait until it has exited."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start Debian's ``redis-server`` on a free loopback port with ``--save ''``
    and ``--appendonly no``; yield once it answers PING; stop it at the end."""
    import redis

    with tempfile.TemporaryDirectory(prefix="serveract-redis-") as directory:
        port = free_port()
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port)]
        args += ["--save", "", "--appendonly", "no", "--dir", directory]
        args += ["--daemonize", "no", "--loglevel", "warning"]
        popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = RedisServer(popen, port)
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
            deadline = time.monotonic() + 15
            while True:
                try:
                    if client.ping():
                        break
                except redis.ConnectionError:
                    if popen.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            client.close()
            yield server
        finally:
            server.stop()
