"""A small app served by several processes in ``test_scaleout.py``.

Every page and every answer says which process made it; the secret comes
from ``SERVERACT_SECRET``, as in a deployment.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import webob

import serveract

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

bank = serveract.Registry()


@bank.action
def transfer(account: str, amount: int, hold: float = 0.0) -> dict[str, object]:
    """``account`` is bound by the page; ``hold`` keeps this worker busy."""
    time.sleep(min(hold, 1.0))
    return {"account": account, "amount": amount, "pid": os.getpid()}


def page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    outcome = serveract.result(environ)
    said = "" if outcome is None else json.dumps(outcome.value)
    said = f'<p id="result">{html.escape(said, quote=False)}</p>'
    body = f"""<!doctype html>
<p id="pid">{os.getpid()}</p>{said}
<form method="post">{application.hidden_field("transfer", account="acct-7")}
  <input name="amount" value="5"><button>Send</button></form>"""
    response = webob.Response(body, content_type="text/html")
    return response(environ, start_response)


application = serveract.ServerActions(page, bank)
