"""Django + serveract in one file: actions get the ``HttpRequest``, session and user.

Run it from this folder: ``python -m serveract recipe_django:application``
(set ``DJANGO_DATABASE`` to an SQLite file migrated with your users).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get(
            "DJANGO_SECRET_KEY", "dev only: set DJANGO_SECRET_KEY"
        ),
        ALLOWED_HOSTS=["localhost", "127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ.get("DJANGO_DATABASE", ":memory:"),
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"libraries": {"serveract": __name__}},
            }
        ],
    )
    django.setup()

from django import template
from django.contrib import auth
from django.core.handlers.wsgi import WSGIRequest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path
from django.utils.module_loading import import_string
from django.views.decorators.http import require_POST

import serveract
from serveract import ActionError, Registry, ServerActions

# -- serveract glue: copy it into your project ---------------------------------

# The middleware that give a request its ``session``, ``user`` and messages
# (those in your MIDDLEWARE), and renew the CSRF cookie when an action logs
# in (Django's token check itself is for views: serveract checks the origin
# of action calls).
PER_REQUEST = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)
_request: ContextVar[HttpRequest] = ContextVar("django_request")


def current_request() -> HttpRequest:
    """The ``HttpRequest`` of the action being called."""
    return _request.get()


def _no_view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the per-request hooks of these middleware are used")


@cache
def _middleware() -> list[Any]:
    return [
        import_string(dotted)(_no_view)
        for dotted in settings.MIDDLEWARE
        if dotted in PER_REQUEST
    ]


@contextmanager
def django_context(environ: dict[str, Any]) -> Iterator[HttpRequest]:
    """Build the ``HttpRequest``, give it session and user, save the session after."""
    request = WSGIRequest(environ)
    for middleware in _middleware():
        middleware.process_request(request)
    token = _request.set(request)
    try:
        yield request
    finally:
        _request.reset(token)
        response = HttpResponse()
        for middleware in reversed(_middleware()):
            if hasattr(middleware, "process_response"):
                response = middleware.process_response(request, response)
        environ["serveract.response_headers"].extend(
            ("Set-Cookie", morsel.OutputString())
            for morsel in response.cookies.values()
        )


register = template.Library()


@register.simple_tag
def action_field(name: str, /, **bound: Any) -> Any:
    """``{% load serveract %}{% action_field "name" key=value %}``"""
    return actions.hidden_field(name, **bound)


# -- the app -------------------------------------------------------------------

account = Registry()


@account.action
def login(username: str, password: str) -> str:
    request = current_request()
    user = auth.authenticate(request, username=username, password=password)
    if user is None:
        raise ActionError("Wrong username or password.", status=403)
    auth.login(request, user)
    return user.get_username()


@account.action
def whoami() -> dict[str, Any]:
    request = current_request()
    return {
        "user": request.user.get_username() if request.user.is_authenticated else None,
        "path": request.path,
        "visits": request.session.get("visits", 0),
    }


@account.action(bound=["theme"])
def set_theme(theme: str) -> str:
    """``theme`` is bound by the page (signed)."""
    current_request().session["theme"] = theme
    return theme


PAGE = engines["django"].from_string("""{% load serveract %}<!doctype html>
<title>Account</title>
{% if outcome and not outcome.ok %}
  <p class="error">{{ outcome.error.message }}</p>
{% endif %}
<p>Signed in as {{ user.get_username|default:"nobody" }}, theme {{ theme }}.</p>
<form method="post">{% action_field "login" %}
  <input name="username"><input name="password" type="password"><button>Sign in</button>
</form>
<form method="post">{% action_field "set_theme" theme="dark" %}
  <button>Dark</button></form>
<form method="post" action="/visit/">{% csrf_token %}
  <button>Count a visit</button></form>
<p id="said" role="status"></p>
<script src="/serveract.js"></script>
<script>
  // With JavaScript on, the forms go over fetch and the page stays: draw it
  // again after an action, and say why a call was refused.
  document.addEventListener("serveract:result", () => location.replace(location.href));
  document.addEventListener("serveract:error", (event) => {
    document.querySelector("#said").textContent = event.detail.message;
  });
</script>
""")


def index(request: HttpRequest) -> HttpResponse:
    context = {
        "outcome": serveract.result(request.environ),
        "theme": request.session.get("theme", "light"),
        "user": request.user,
    }
    return HttpResponse(PAGE.render(context, request))


@require_POST
def visit(request: HttpRequest) -> HttpResponse:
    """An ordinary Django view with a CSRF-protected form: untouched by serveract."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(f"visits: {request.session['visits']}")


urlpatterns = [path("", index), path("visit/", visit)]
application = actions = ServerActions(
    get_wsgi_application(), account, secret=settings.SECRET_KEY, context=django_context
)
