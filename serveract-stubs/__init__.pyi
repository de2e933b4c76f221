# Types of serveract.py for the code that imports it, shipped as a stub-only
# package in the same wheel: a single module cannot carry py.typed (PEP 561).
# Kept equal to the module by `python -m mypy.stubtest serveract` in the tests.

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from logging import Logger
from types import ModuleType
from typing import IO, Any, Protocol, TypeVar, overload

import webob.multidict
from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ActionError",
    "Markup",
    "MemoryLimiter",
    "RedisLimiter",
    "Registry",
    "Result",
    "ServerActions",
    "Upload",
    "action",
    "hidden_field",
    "redirect",
    "register_module",
    "registry",
    "result",
]
__version__: str
logger: Logger

_F = TypeVar("_F", bound=Callable[..., Any])

# -- Outcomes

class ActionError(Exception):
    message: str
    status: int
    data: Any
    def __init__(self, message: str, status: int = 400, data: Any = None) -> None: ...

class redirect(BaseException):
    url: str
    status: int
    def __init__(self, url: str, status: int = 303) -> None: ...

class _Failure(Exception):
    """``Result.error``: what went wrong, as the error body says it."""

    status: int
    message: str
    data: Any
    type: str
    headers: Sequence[tuple[str, str]]
    def __init__(
        self,
        status: int,
        message: str,
        data: Any = None,
        type: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None: ...
    @property
    def fields(self) -> dict[str, str]: ...
    def as_json(self) -> dict[str, Any]: ...

class Result:
    name: str
    ok: bool
    value: Any
    error: _Failure | None
    def __init__(
        self,
        name: str,
        value: Any = None,
        error: _Failure | None = None,
        fields: dict[str, list[Any]] | None = None,
    ) -> None: ...
    @property
    def form(self) -> webob.multidict.MultiDict[str, str]: ...

def result(environ: WSGIEnvironment) -> Result | None: ...

# -- Registry

class Registry:
    def __init__(self) -> None: ...
    @overload
    def action(
        self,
        func: _F,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
        limit: str | None = None,
    ) -> _F: ...
    @overload
    def action(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
        limit: str | None = None,
    ) -> Callable[[_F], _F]: ...
    def get(self, name: str) -> Callable[..., Any] | None: ...
    def __contains__(self, name: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...

registry: Registry
action = registry.action

def register_module(
    module: ModuleType | str, registry: Registry | None = None
) -> list[str]: ...

# -- Uploads

class Upload:
    file: IO[bytes]
    filename: str
    content_type: str
    def __init__(self, file: IO[bytes], filename: str, content_type: str) -> None: ...
    def read(self, size: int = -1) -> bytes: ...
    def seek(self, offset: int, whence: int = 0) -> int: ...
    def __getattr__(self, name: str) -> Any: ...
    def __iter__(self) -> Iterator[bytes]: ...

# -- Rate limits

class _Limiter(Protocol):
    """What ``ServerActions(limiter=...)`` takes."""

    def acquire(self, key: str, limit: int, window: float) -> float: ...
    def peek(self, key: str, limit: int, window: float) -> float: ...

class MemoryLimiter:
    max_keys: int
    def __init__(
        self, max_keys: int = 100_000, clock: Callable[[], float] = ...
    ) -> None: ...
    def acquire(self, key: str, limit: int, window: float) -> float: ...
    def peek(self, key: str, limit: int, window: float) -> float: ...

class RedisLimiter:
    client: Any
    prefix: str
    def __init__(self, url_or_client: Any, prefix: str = "serveract:") -> None: ...
    def acquire(self, key: str, limit: int, window: float) -> float: ...
    def peek(self, key: str, limit: int, window: float) -> float: ...

# -- The middleware

class ServerActions:
    app: WSGIApplication
    registry: Registry
    max_body_size: int
    header: str
    field: str
    client_path: str
    action_path: str | None
    context: Callable[[WSGIEnvironment], AbstractContextManager[Any]] | None
    debug: bool
    trusted_proxy: bool
    limiter: _Limiter
    limit_key: Callable[[WSGIEnvironment], str] | None
    def __init__(
        self,
        app: WSGIApplication,
        registry: Registry | None = None,
        *,
        secret: str | bytes | Sequence[str | bytes] | None = None,
        allowed_origins: Iterable[str] = (),
        max_body_size: int = 1048576,
        header: str = "Serveract-Action",
        field: str = "$action",
        client_path: str = "/serveract.js",
        context: Callable[[WSGIEnvironment], AbstractContextManager[Any]] | None = None,
        debug: bool = False,
        trusted_proxy: bool = False,
        allowed_hosts: Iterable[str] | None = None,
        action_path: str | None = "/_serveract/",
        limiter: _Limiter | None = None,
        limit_key: Callable[[WSGIEnvironment], str] | None = None,
    ) -> None: ...
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]: ...
    def hidden_field(self, name: str, /, **bound: Any) -> Markup: ...
    def schema(self) -> dict[str, Any]: ...
    def openapi(
        self, title: str = "serveract actions", version: str = "1.0.0"
    ) -> dict[str, Any]: ...
    def typescript(self) -> str: ...

# -- Markup

class Markup(str):
    def __html__(self) -> str: ...

def hidden_field(name: str) -> Markup: ...
