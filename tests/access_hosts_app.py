"""A plain WSGI app and one action on the default registry, served by
``python -m serveract access_hosts_app:app`` in ``test_hosts.py``: the
command line wraps it, so its defaults (``allowed_hosts``) are the ones tested.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import serveract

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@serveract.action
def ping() -> str:
    """Answers ``"pong"`` to whoever may call."""
    return "pong"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Every page is the same plain text, whatever the host."""
    body = b"page"
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]


#: The same app with its own ``allowed_hosts``: the command line keeps them.
explicit = serveract.ServerActions(app, allowed_hosts=["api.example"])
