"""Helpers for the real-browser tests: the demo app, a request log, and
Debian's Chromium driven by playwright (see BROWSER.md). The server is
``conftest.serving``."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
HTMX = ROOT / "tests" / "fixtures" / "vendor" / "htmx.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--disable-extensions",
    # The network is closed: no lookups of outside hosts, but loopback works.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def load_demo(name: str = "serveract_todo_demo") -> ModuleType:
    """Import ``examples/todo.py`` (not a package) as ``name``, once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "todo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Seen:
    """One request as it reached the server, and the status it got."""

    method: str
    path: str
    action: str | None  # the Serveract-Action header
    htmx: bool
    status: str


class RequestLog:
    """WSGI middleware that remembers every request, thread-safely."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._seen: list[Seen] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def record(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen = Seen(
                method=environ["REQUEST_METHOD"],
                path=environ.get("PATH_INFO", ""),
                action=environ.get("HTTP_SERVERACT_ACTION"),
                htmx="HTTP_HX_REQUEST" in environ,
                status=status,
            )
            with self._lock:
                self._seen.append(seen)
            return start_response(status, headers, exc_info)

        return self.app(environ, record)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def requests(
        self, method: str | None = None, path: str | None = None
    ) -> list[Seen]:
        with self._lock:
            return [
                seen
                for seen in self._seen
                if (method is None or seen.method == method)
                and (path is None or seen.path == path)
            ]


def with_vendored_htmx(
    app: Callable[..., Iterable[bytes]],
) -> Callable[..., Iterable[bytes]]:
    """Serve the htmx copy vendored at install time on ``/vendor/htmx.min.js``."""
    script = HTMX.read_bytes()

    def router(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/vendor/htmx.min.js":
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/javascript"),
                    ("Content-Length", str(len(script))),
                ],
            )
            return [script]
        return app(environ, start_response)

    return router


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under playwright; never a downloaded browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
