"""serveract inside real Flask, Bottle, Pyramid and Django apps.

Two kinds of test per framework:

- pass-through: one app, plain and wrapped, gets the same requests (its own
  routes, urlencoded and multipart forms, raw bodies, cookies, sessions, error
  pages); the answers must be the same, while actions are called in between;
- the README's recipe (``examples/frameworks/recipe_*.py``): the framework's
  request, session and user inside actions through ``context=``, cookies set
  by an action reaching the browser, and templates rendering the hidden
  fields unescaped, submitted through WebTest.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import types
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.validate import validator

import bottle
import chameleon
import flask
import pytest
import webtest
from pyramid.config import Configurator
from pyramid.request import Request as PyramidRequest
from pyramid.response import Response as PyramidResponse
from pyramid.session import SignedCookieSessionFactory

import serveract

# Puts examples/frameworks on sys.path; configures Django for this process.
import framework_support  # noqa: F401  # isort: skip
import recipe_bottle  # isort: skip
import recipe_django  # isort: skip
import recipe_flask  # isort: skip
import recipe_pyramid  # isort: skip

from django.conf import settings  # isort: skip
from django.contrib import messages  # isort: skip
from django.contrib.auth.models import User  # isort: skip
from django.contrib.messages.storage.cookie import CookieStorage  # isort: skip
from django.core.wsgi import get_wsgi_application  # isort: skip
from django.core.management import call_command  # isort: skip
from django.http import HttpRequest, HttpResponse  # isort: skip
from django.template import engines  # isort: skip
from django.test.utils import override_settings  # isort: skip
from django.urls import path as django_path  # isort: skip
from django.views.decorators.http import require_GET, require_POST  # isort: skip

WSGIApp = Callable[..., Any]
# A file whose first bytes look like the part a hidden field makes.
BINARY = (
    bytes(range(256)) * 8
    + b'\r\nContent-Disposition: form-data; name="$action"\r\n\r\nping\r\n'
    + b"\r\n--not-a-boundary\r\n"
    + b"\x00" * 64
)
BIG = hashlib.sha256(b"seed").digest() * (1_500_000 // 32)  # past max_body_size
FORM_PAGE = "<h1>Page</h1>\n{field}\n<p>{outcome}</p>"


def ping(text: str = "") -> str:
    return f"pong {text}".strip()


def echo(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> str:
    """What the apps' ``/echo`` answers: every field, every file's digest."""
    lines = [f"{name}={value}" for name, value in fields]
    lines += [
        f"{name}:{filename}:{len(data)}:{hashlib.sha256(data).hexdigest()}"
        for name, filename, data in files
    ]
    return "\n".join(lines)


def digest(body: bytes, content_type: str) -> str:
    return f"{content_type} {len(body)} {hashlib.sha256(body).hexdigest()}"


def outcome_text(environ: dict[str, Any]) -> str:
    outcome = serveract.result(environ)
    if outcome is None:
        return "no action"
    return f"{outcome.name}: {outcome.value}" if outcome.ok else "failed"


# -- the same app in each framework -------------------------------------------


def flask_app() -> WSGIApp:
    app = flask.Flask("plain_flask")
    app.secret_key = "flask test key"
    page = "<h1>Page</h1>\n{{ field }}\n<p>{{ outcome }}</p>"

    @app.get("/page")
    def show() -> str:
        field = serveract.hidden_field("ping")
        outcome = outcome_text(flask.request.environ)
        return flask.render_template_string(page, field=field, outcome=outcome)

    @app.post("/echo")
    def echo_form() -> str:
        request = flask.request
        files = [
            (k, f.filename or "", f.read()) for k, f in request.files.items(multi=True)
        ]
        return echo(list(request.form.items(multi=True)), files)

    @app.post("/raw")
    def raw() -> str:
        return digest(flask.request.get_data(), flask.request.content_type or "")

    @app.get("/cookie/set")
    def set_cookie() -> flask.Response:
        response = flask.make_response("set")
        response.set_cookie("flavor", "oatmeal", httponly=True)
        return response

    @app.get("/cookie/get")
    def get_cookie() -> str:
        return f"flavor: {flask.request.cookies.get('flavor')}"

    @app.post("/session/set")
    def set_session() -> str:
        flask.session["value"] = flask.request.form["value"]
        return "saved"

    @app.get("/session/get")
    def get_session() -> str:
        return f"value: {flask.session.get('value')}"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return f"<h1>Nothing at {flask.request.path}</h1>", 404

    @app.errorhandler(500)
    def failed(error: Exception) -> tuple[str, int]:
        return "<h1>Sorry</h1>", 500

    return app


def bottle_app() -> WSGIApp:
    app = bottle.Bottle()
    page = bottle.SimpleTemplate("<h1>Page</h1>\n{{!field}}\n<p>{{outcome}}</p>")

    @app.get("/page")
    def show() -> str:
        field = serveract.hidden_field("ping")
        return page.render(field=field, outcome=outcome_text(bottle.request.environ))

    @app.post("/echo")
    def echo_form() -> str:
        forms = bottle.request.forms.decode()
        files = [
            (k, f.raw_filename, f.file.read())
            for k, f in bottle.request.files.allitems()
        ]
        return echo(list(forms.allitems()), files)

    @app.post("/raw")
    def raw() -> str:
        return digest(bottle.request.body.read(), bottle.request.content_type)

    @app.get("/cookie/set")
    def set_cookie() -> str:
        bottle.response.set_cookie("flavor", "oatmeal", httponly=True)
        return "set"

    @app.get("/cookie/get")
    def get_cookie() -> str:
        return f"flavor: {bottle.request.get_cookie('flavor')}"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.error(404)
    def not_found(error: bottle.HTTPError) -> str:
        return f"<h1>Nothing at {bottle.request.path}</h1>"

    @app.error(500)
    def failed(error: bottle.HTTPError) -> str:
        return "<h1>Sorry</h1>"

    return app


def pyramid_app() -> WSGIApp:
    page = chameleon.PageTemplate(
        "<h1>Page</h1>\n${field}\n<p>${outcome}</p>", encoding="utf-8"
    )

    def show(request: PyramidRequest) -> PyramidResponse:
        field = serveract.hidden_field("ping")
        html = page(field=field, outcome=outcome_text(request.environ))
        return PyramidResponse(html)

    def echo_form(request: PyramidRequest) -> PyramidResponse:
        fields, files = [], []
        for name, value in request.POST.items():
            if hasattr(value, "filename"):
                files.append((name, value.filename, value.file.read()))
            else:
                fields.append((name, value))
        return PyramidResponse(echo(fields, files))

    def raw(request: PyramidRequest) -> PyramidResponse:
        return PyramidResponse(digest(request.body, request.content_type))

    def set_cookie(request: PyramidRequest) -> PyramidResponse:
        response = PyramidResponse("set")
        response.set_cookie("flavor", "oatmeal", httponly=True)
        return response

    def get_cookie(request: PyramidRequest) -> PyramidResponse:
        return PyramidResponse(f"flavor: {request.cookies.get('flavor')}")

    def set_session(request: PyramidRequest) -> PyramidResponse:
        request.session["value"] = request.POST["value"]
        return PyramidResponse("saved")

    def get_session(request: PyramidRequest) -> PyramidResponse:
        return PyramidResponse(f"value: {request.session.get('value')}")

    def boom(request: PyramidRequest) -> PyramidResponse:
        raise RuntimeError("boom")

    def not_found(request: PyramidRequest) -> PyramidResponse:
        return PyramidResponse(f"<h1>Nothing at {request.path}</h1>", status=404)

    def failed(error: Exception, request: PyramidRequest) -> PyramidResponse:
        return PyramidResponse("<h1>Sorry</h1>", status=500)

    with Configurator() as config:
        config.set_session_factory(SignedCookieSessionFactory("pyramid test key"))
        routes = [
            ("/page", show, "GET"),
            ("/echo", echo_form, "POST"),
            ("/raw", raw, "POST"),
            ("/cookie/set", set_cookie, "GET"),
            ("/cookie/get", get_cookie, "GET"),
            ("/session/set", set_session, "POST"),
            ("/session/get", get_session, "GET"),
            ("/boom", boom, "GET"),
        ]
        for pattern, view, method in routes:
            config.add_route(pattern, pattern)
            config.add_view(view, route_name=pattern, request_method=method)
        config.add_notfound_view(not_found)
        config.add_exception_view(failed, context=RuntimeError)
        return config.make_wsgi_app()


def _django_urls() -> types.ModuleType:
    page = engines["django"].from_string(
        "<h1>Page</h1>\n{{ field }}\n<p>{{ outcome }}</p>\n"
        '<form method="post" action="/echo">{% csrf_token %}</form>'
    )

    @require_GET
    def show(request: HttpRequest) -> HttpResponse:
        context = {
            "field": serveract.hidden_field("ping"),
            "outcome": outcome_text(request.environ),
        }
        return HttpResponse(page.render(context, request))

    @require_POST
    def echo_form(request: HttpRequest) -> HttpResponse:
        fields = [(k, v) for k, v in request.POST.lists() for v in v]
        fields = [(k, v) for k, v in fields if k != "csrfmiddlewaretoken"]
        files = [
            (name, upload.name or "", upload.read())
            for name, uploads in request.FILES.lists()
            for upload in uploads
        ]
        return HttpResponse(echo(fields, files))

    @require_POST
    def raw(request: HttpRequest) -> HttpResponse:
        return HttpResponse(digest(request.body, request.content_type or ""))

    def set_cookie(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("set")
        response.set_cookie("flavor", "oatmeal", httponly=True)
        return response

    def get_cookie(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"flavor: {request.COOKIES.get('flavor')}")

    @require_POST
    def set_session(request: HttpRequest) -> HttpResponse:
        request.session["value"] = request.POST["value"]
        return HttpResponse("saved")

    def get_session(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"value: {request.session.get('value')}")

    def boom(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
        return HttpResponse(f"<h1>Nothing at {request.path}</h1>", status=404)

    def failed(request: HttpRequest) -> HttpResponse:
        return HttpResponse("<h1>Sorry</h1>", status=500)

    views = {
        "page": show,
        "echo": echo_form,
        "raw": raw,
        "cookie/set": set_cookie,
        "cookie/get": get_cookie,
        "session/set": set_session,
        "session/get": get_session,
        "boom": boom,
    }
    urls = types.ModuleType("plain_django_urls")  # hashable, unlike a namespace
    urls.urlpatterns = [django_path(route, view) for route, view in views.items()]
    urls.handler404 = not_found
    urls.handler500 = failed
    return urls


@pytest.fixture
def django_urls() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=_django_urls()):
        yield


def django_app() -> WSGIApp:
    return get_wsgi_application()


# -- pass-through: the wrapped app answers as the plain one -------------------

FRAMEWORKS = {
    "flask": flask_app,
    "bottle": bottle_app,
    "pyramid": pyramid_app,
    "django": django_app,
}
COOKIE_DATE = re.compile(r"(?i);\s*expires=[^;]*")
SESSION_VALUE = re.compile(r"^\s*(session|sessionid|csrftoken)=[^;]*")
CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*')


def wrapped(app: WSGIApp, reg: serveract.Registry) -> webtest.TestApp:
    """``app`` behind the middleware, ``wsgiref.validate`` on both sides."""
    return webtest.TestApp(validator(serveract.ServerActions(validator(app), reg)))


def normalized(response: webtest.TestResponse) -> tuple[Any, ...]:
    """Status, headers and body, less what differs between two runs (session
    cookie values carry a timestamp, CSRF tokens are random)."""
    headers = []
    for name, value in response.headerlist:
        if name.lower() == "set-cookie":
            value = SESSION_VALUE.sub(r"\1=…", COOKIE_DATE.sub("", value))
        headers.append((name.lower(), value))
    return response.status, sorted(headers), CSRF_VALUE.sub(r"\1…", response.text)


def scenario(
    app: webtest.TestApp, framework: str, between: Callable[[], None]
) -> list[tuple[Any, ...]]:
    """The same requests to each app; ``between`` runs between every two."""
    seen: list[tuple[Any, ...]] = []
    app.get("/page")  # Django's CSRF cookie, for the header below

    def post(path: str, *args: Any, **kwargs: Any) -> webtest.TestResponse:
        token = app.cookies.get("csrftoken")
        headers = {"X-CSRFToken": token} if token else {}
        return app.post(path, *args, headers=headers, **kwargs)

    steps: list[Callable[[], webtest.TestResponse]] = [
        lambda: app.get("/page"),
        lambda: post(
            "/echo",
            [
                ("a", "1"),
                ("b", "two words & more"),
                ("c", "x"),
                ("c", "y"),
                ("uni", "héllo € 🙂"),
                ("action", "not ours"),
                ("$actions", "not ours either"),
                ("x$action", "nor this"),
            ],
        ),
        lambda: post(
            "/echo",
            [("note", 'name="$action" in a value'), ("$actionless", "no")],
            upload_files=[("upload", "data.bin", BINARY)],
        ),
        lambda: post(
            "/echo", [("note", "big")], upload_files=[("upload", "big.bin", BIG)]
        ),
        lambda: post("/raw", b'{"json": true}', content_type="application/json"),
        lambda: post(
            "/raw",
            b"\xff\xfe%24action=ping&not=utf8",
            content_type="application/x-www-form-urlencoded",
        ),
        lambda: post("/raw", b"", content_type="application/x-www-form-urlencoded"),
        lambda: app.get("/cookie/set"),
        lambda: app.get("/cookie/get"),
        lambda: app.get("/missing", status=404),
        lambda: app.get("/boom", status=500, expect_errors=True),
        lambda: post("/page", [("a", "1")], expect_errors=True),
    ]
    if framework != "bottle":  # Bottle has no sessions
        steps += [
            lambda: post("/session/set", [("value", "kept")]),
            lambda: app.get("/session/get"),
        ]
    for step in steps:
        seen.append(normalized(step()))
        between()
    return seen


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_wrapped_app_answers_like_the_plain_app(
    reg: serveract.Registry, framework: str, django_urls: None
) -> None:
    build = FRAMEWORKS[framework]
    plain = scenario(webtest.TestApp(validator(build())), framework, lambda: None)
    reg.action(ping)
    client = wrapped(build(), reg)
    calls: list[Any] = []

    def call_actions() -> None:
        answer = client.post_json("/page", ["hi"], headers={"Serveract-Action": "ping"})
        calls.append(answer.json)
        page = client.get("/page")
        assert "<p>no action</p>" in page.text
        form = client.post("/page", {"$action": "ping", "text": "form"})
        assert "<p>ping: pong form</p>" in form.text

    assert scenario(client, framework, call_actions) == plain
    assert calls == ["pong hi"] * len(plain)
    # The answers are real, not two identical failures.
    bodies = [body for _, _, body in plain]
    assert (
        "a=1\nb=two words & more\nc=x\nc=y\nuni=héllo € 🙂\naction=not ours"
        "\n$actions=not ours either\nx$action=nor this"
    ) in bodies
    assert "flavor: oatmeal" in bodies
    assert "<h1>Nothing at /missing</h1>" in bodies
    assert "<h1>Sorry</h1>" in bodies
    if framework != "bottle":
        assert "value: kept" in bodies
    assert [status for status, _, _ in plain][:4] == ["200 OK"] * 4


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_forms_files_and_bodies_reach_the_app_intact(
    reg: serveract.Registry, framework: str, django_urls: None
) -> None:
    reg.action(ping)
    client = wrapped(FRAMEWORKS[framework](), reg)
    page = client.get("/page")
    field = '<input type="hidden" name="$action" value="ping">'
    assert field in page.text  # the template did not escape it again
    token = client.cookies.get("csrftoken")
    headers = {"X-CSRFToken": token} if token else {}
    fields = [("b", "two words & more"), ("uni", "héllo € 🙂"), ("$actions", "no")]
    answer = client.post("/echo", fields, headers=headers)
    assert answer.text == "b=two words & more\nuni=héllo € 🙂\n$actions=no"
    answer = client.post(
        "/echo",
        [("note", "big")],
        upload_files=[("upload", "big.bin", BIG), ("upload", "data.bin", BINARY)],
        headers=headers,
    )
    assert answer.text == echo(
        [("note", "big")], [("upload", "big.bin", BIG), ("upload", "data.bin", BINARY)]
    )
    body = b"\xff\xfe%24action=ping&not=utf8"
    kind = "application/x-www-form-urlencoded"
    answer = client.post("/raw", body, content_type=kind, headers=headers)
    assert answer.text == digest(body, kind)


# -- Flask recipe -------------------------------------------------------------


def last_form(page: webtest.TestResponse) -> webtest.Form:
    return page.forms[len(page.forms) - 1]


def session_cookie(response: webtest.TestResponse, name: str) -> str:
    cookies = [v for k, v in response.headerlist if k == "Set-Cookie"]
    found = [c for c in cookies if c.startswith(name + "=")]
    assert found, f"no {name} cookie in {cookies}"
    return found[-1]


def test_flask_actions_use_request_session_g_and_current_app() -> None:
    client = webtest.TestApp(recipe_flask.app)
    added = client.post_json(
        "/", ["first"], headers={"Serveract-Action": "add_note", "User-Agent": "UA/1"}
    )
    assert added.json == ["first"]
    session_cookie(added, "session")  # the session saved inside the action
    added = client.post_json(
        "/", {"text": "second"}, headers={"Serveract-Action": "add_note"}
    )
    assert added.json == ["first", "second"]
    who = client.post_json(
        "/notes", [], headers={"Serveract-Action": "whoami", "User-Agent": "UA/1"}
    )
    assert who.json == {
        "app": "recipe_flask",
        "path": "/notes",
        "agent": "UA/1",
        "notes": 2,
        "asked": True,
    }
    page = client.get("/")
    assert [i["value"] for i in page.html.select("li input[name=text]")] == [
        "first",
        "second",
    ]


@pytest.mark.parametrize(
    ("app", "name", "payload"),
    [
        pytest.param(lambda: recipe_flask.app, "rename_note", [0, "x"], id="flask"),
        pytest.param(lambda: recipe_pyramid.application, "finish", [0], id="pyramid"),
        pytest.param(
            lambda: recipe_django.application, "set_theme", ["x"], id="django"
        ),
    ],
)
def test_a_recipes_page_bound_value_cannot_come_from_a_client(
    app: Callable[[], Any], name: str, payload: list[Any]
) -> None:
    """What a recipe's docstring calls bound by the page (signed) is
    declared ``bound=``: a call that is not the signed form is refused."""
    client = webtest.TestApp(app())
    refused = client.post_json(
        "/", payload, headers={"Serveract-Action": name}, status=400
    )
    assert "only from a form the server signed" in refused.json["error"]["message"]


def test_flask_forms_work_without_javascript() -> None:
    client = webtest.TestApp(recipe_flask.app)
    page = client.get("/")
    add = page.forms[0]
    assert add.fields["$action"][0].value == "add_note"
    add["text"] = "from a form"
    shown = add.submit()
    assert shown.status_int == 200
    session_cookie(shown, "session")
    # The page rendered after the action already sees the saved session.
    assert [i["value"] for i in shown.html.select("li input[name=text]")] == [
        "from a form"
    ]
    rename = shown.forms[0]
    assert [name for name, _ in rename.submit_fields()][:2] == ["$action", "$bound"]
    rename["text"] = "renamed"
    shown = rename.submit()
    assert [i["value"] for i in shown.html.select("li input[name=text]")] == ["renamed"]

    blank = shown.forms[1]
    blank["text"] = "  "
    failed = blank.submit()
    assert failed.html.select_one("p.error").text == "Write something first."

    tampered = client.get("/").forms[0]
    tampered["$bound"].force_value("e30." + tampered["$bound"].value.split(".")[1])
    tampered.submit(status=400)


# -- Bottle recipe ------------------------------------------------------------


def test_bottle_actions_use_bottle_request_and_response() -> None:
    client = webtest.TestApp(recipe_bottle.application)
    answer = client.post_json("/", ["Ada"], headers={"Serveract-Action": "remember"})
    assert answer.json == "Nice to meet you, Ada."
    assert session_cookie(answer, "name").startswith("name=Ada;")
    greeted = client.post_json("/hello", [], headers={"Serveract-Action": "greet"})
    assert greeted.json == "Hello, Ada! (/hello)"
    page = client.get("/")
    assert "<p>Known as: Ada</p>" in page.text
    assert "&lt;input" not in page.text


def test_bottle_forms_work_without_javascript() -> None:
    client = webtest.TestApp(recipe_bottle.application)
    page = client.get("/")
    remember, greet = page.forms[0], page.forms[1]
    remember["name"] = "Grace"
    shown = remember.submit()
    assert "Nice to meet you, Grace." in shown.html.select_one("p.ok").text
    assert session_cookie(shown, "name").startswith("name=Grace;")
    shown = greet.submit()  # greeting="Howdy" is bound by the page
    assert shown.html.select_one("p.ok").text.strip() == "Howdy, Grace! (/)"
    remember["name"] = ""
    failed = remember.submit()
    assert failed.html.select_one("p.error").text.strip() == "Tell me your name."


def test_bottle_page_rendered_again_reads_the_get_not_the_posts_caches() -> None:
    """Bottle keeps what it parsed in the environ (``bottle.request.cookies``,
    ``.forms``, ``.body``): an action that read the cookies, then set one,
    left them there, and the page rendered again for the same request showed
    the cookie as it was before the action, though serveract had given the
    GET the cookies the action set; and the POST's fields as the GET's."""
    app = bottle.Bottle()
    visits = serveract.Registry()

    @contextlib.contextmanager
    def context(environ: dict[str, Any]) -> Iterator[None]:
        bottle.request.bind(environ)
        bottle.response.bind()
        yield
        environ["serveract.response_headers"].extend(
            header for header in bottle.response.headerlist if header[0] == "Set-Cookie"
        )

    @visits.action
    def visit(note: str = "") -> int:
        count = int(bottle.request.get_cookie("visits", "0")) + 1
        assert bottle.request.forms.get("note") == note
        bottle.response.set_cookie("visits", str(count), path="/")
        return count

    @app.get("/")
    def page() -> str:
        outcome = serveract.result(bottle.request.environ)
        cookie = bottle.request.get_cookie("visits")
        fields = sorted(bottle.request.forms.keys())
        return f"outcome={outcome and outcome.value} cookie={cookie} forms={fields}"

    client = webtest.TestApp(
        validator(serveract.ServerActions(validator(app), visits, context=context))
    )
    shown = client.post("/", {"$action": "visit", "note": "hi"})
    assert shown.text == "outcome=1 cookie=1 forms=[]"
    shown = client.post("/", {"$action": "visit", "note": "again"})
    assert shown.text == "outcome=2 cookie=2 forms=[]"
    assert client.get("/").text == "outcome=None cookie=2 forms=[]"


# -- Pyramid recipe -----------------------------------------------------------


def test_pyramid_actions_use_request_and_registry() -> None:
    client = webtest.TestApp(recipe_pyramid.application)
    added = client.post_json(
        "/", ["Write docs"], headers={"Serveract-Action": "add_todo"}
    )
    assert added.json == ["Write docs"]
    session_cookie(added, "session")
    about = client.post_json("/", [], headers={"Serveract-Action": "about"})
    assert about.json == {
        "title": "Today",
        "path": "/",
        "route_url": "http://localhost/",
        "todos": 1,
    }
    page = client.get("/")
    assert page.html.title.text == "Today"
    assert "Write docs" in page.html.select_one("li").text
    assert "&lt;input" not in page.text


def test_pyramid_chameleon_forms_work_without_javascript() -> None:
    client = webtest.TestApp(recipe_pyramid.application)
    add = last_form(client.get("/"))
    for title in ("one", "two"):
        add["title"] = title
        shown = add.submit()
        add = last_form(shown)
    assert [li.text.split()[0] for li in shown.html.select("li")] == ["one", "two"]
    finish_first = shown.forms[0]  # index=0 bound by the template
    shown = finish_first.submit()
    assert [li.text.split()[0] for li in shown.html.select("li")] == ["two"]
    add = last_form(shown)
    add["title"] = " "
    failed = add.submit()
    assert failed.html.select_one("p.error").text == "A todo needs a title."


# -- Django recipe ------------------------------------------------------------


@pytest.fixture(scope="module")
def django_user() -> Iterator[None]:
    hasher = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
    with override_settings(PASSWORD_HASHERS=hasher):
        call_command("migrate", verbosity=0, interactive=False)
        User.objects.create_user("ada", password="lovelace")
        yield


def test_django_actions_get_request_session_and_user(django_user: None) -> None:
    client = webtest.TestApp(recipe_django.application)
    anonymous = client.post_json("/", [], headers={"Serveract-Action": "whoami"})
    assert anonymous.json == {"user": None, "path": "/", "visits": 0}
    refused = client.post_json(
        "/", ["ada", "wrong"], headers={"Serveract-Action": "login"}, status=403
    )
    assert refused.json["error"]["message"] == "Wrong username or password."
    before = client.get("/").forms[2]["csrfmiddlewaretoken"].value
    old_token = client.cookies["csrftoken"]
    answer = client.post_json(
        "/", ["ada", "lovelace"], headers={"Serveract-Action": "login"}
    )
    assert answer.json == "ada"
    session_cookie(answer, "sessionid")  # the login reached the browser
    session_cookie(answer, "csrftoken")  # and renewed the CSRF token, as Django does
    assert client.cookies["csrftoken"] != old_token
    stale = client.post("/visit/", {"csrfmiddlewaretoken": before}, status=403)
    assert "CSRF" in stale.text

    page = client.get("/")
    assert "Signed in as ada, theme light." in page.text
    counted = last_form(page).submit()  # a plain Django form, CSRF-checked
    assert counted.text == "visits: 1"
    who = client.post_json("/account/", [], headers={"Serveract-Action": "whoami"})
    assert who.json == {"user": "ada", "path": "/account/", "visits": 1}


def test_django_template_forms_work_without_javascript(django_user: None) -> None:
    client = webtest.TestApp(recipe_django.application)
    page = client.get("/")
    assert '<input type="hidden" name="$action" value="login">' in page.text
    login = page.forms[0]
    login["username"], login["password"] = "ada", "lovelace"
    shown = login.submit()
    session_cookie(shown, "sessionid")
    assert "Signed in as ada, theme light." in shown.text
    dark = shown.forms[1]  # theme="dark" bound by {% action_field %}
    shown = dark.submit()
    assert "Signed in as ada, theme dark." in shown.text
    login = shown.forms[0]
    login["username"], login["password"] = "ada", "nope"
    failed = login.submit()
    assert failed.html.select_one("p.error").text == "Wrong username or password."


def test_django_action_field_binds_a_parameter_called_name(
    reg: serveract.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    @reg.action(bound=["name"])
    def delete_file(name: str) -> str:
        return name

    actions = serveract.ServerActions(recipe_django.application, reg, secret="k")
    monkeypatch.setattr(recipe_django, "actions", actions)
    page = engines["django"].from_string(
        '{% load serveract %}{% action_field "delete_file" name="a.txt" %}'
    )
    assert page.render({}) == actions.hidden_field("delete_file", name="a.txt")


def test_django_messages_set_inside_an_action_reach_the_browser(
    reg: serveract.Registry,
) -> None:
    @reg.action
    def save() -> None:
        messages.success(recipe_django.current_request(), "Saved.")

    middleware = [
        *settings.MIDDLEWARE,
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    storage = f"{CookieStorage.__module__}.CookieStorage"
    with override_settings(MIDDLEWARE=middleware, MESSAGE_STORAGE=storage):
        recipe_django._middleware.cache_clear()
        try:
            app = serveract.ServerActions(
                recipe_django.application.app, reg, context=recipe_django.django_context
            )
            answer = webtest.TestApp(app).post_json(
                "/", [], headers={"Serveract-Action": "save"}
            )
        finally:
            recipe_django._middleware.cache_clear()
    assert answer.json is None
    cookie = session_cookie(answer, "messages").split(";")[0].split("=", 1)[1]
    stored = CookieStorage(HttpRequest())._decode(cookie.strip('"'))
    assert [m.message for m in stored] == ["Saved."]


def test_django_csrf_still_guards_the_apps_own_forms(django_user: None) -> None:
    client = webtest.TestApp(recipe_django.application)
    client.get("/")
    client.post("/visit/", {"x": "1"}, status=403)  # no CSRF token
    assert (
        client.post(
            "/visit/", {"x": "1"}, headers={"X-CSRFToken": client.cookies["csrftoken"]}
        ).text
        == "visits: 1"
    )
