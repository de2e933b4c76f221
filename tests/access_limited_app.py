"""A rate-limited action served by several ``python -m serveract`` processes
in ``test_rate_limits.py``: the counts live in the Redis at
``ACCESS_REDIS_URL`` under ``ACCESS_REDIS_PREFIX``, shared by every process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import serveract

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

limited = serveract.Registry()


@limited.action(limit="3/hour")
def hit() -> int:
    """Which process ran the call."""
    return os.getpid()


def page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = b"page"
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]


application = serveract.ServerActions(
    page,
    limited,
    limiter=serveract.RedisLimiter(
        os.environ["ACCESS_REDIS_URL"], prefix=os.environ["ACCESS_REDIS_PREFIX"]
    ),
)
