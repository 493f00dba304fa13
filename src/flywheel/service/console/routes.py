"""The console's HTTP routes, mounted beside /health on HTTP_PORT.

    GET  /                      overview, charts, the last epochs; the operator's actions
    GET  /epochs?page=N         every epoch, 20 a page, linking to reports and the explorer
    GET  /reports/<name>        one epoch report file (JSON)
    GET  /proof, /proof.json    the holders' proof (as `flywheel proof` writes it)
    GET  /static/console.css    the vendored stylesheet
    GET  /login, POST /login    the webhook secret in, a session cookie out; POST /logout
    POST /actions/...           ads launch|cancel, fee release|reject, breaker reset, epoch trigger

Read-only pages need the operator unless CONSOLE_PUBLIC=true; actions always do, and a form
needs its CSRF token. See auth.py for sessions, Bearer and the rate limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from flywheel.errors import OperationalError
from flywheel.reports.proof import ProofDocument, load_epoch_reports
from flywheel.service.console import actions
from flywheel.service.console.auth import ConsoleAuth, Identity, client_of
from flywheel.service.console.pages import ConsoleContext, epochs_page, overview_page
from flywheel.service.console.proof_page import proof_document, render_proof
from flywheel.service.console.templating import environment, stylesheet

log = structlog.get_logger("flywheel.console")

MAX_FORM_BYTES = 4096
REPORT_NAME = re.compile(r"^epoch-[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9]{1,16}\.json$")
NO_STORE = {"Cache-Control": "no-store"}
# Every page: no framing (clickjacking), no resource from anywhere but here.
SECURITY_HEADERS = {
    **NO_STORE,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

PROOF_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

FLASH = {
    "launched": "The campaign is recorded as launched.",
    "cancelled": "The spec is cancelled; its budget is back in the ads reserve.",
    "released": "The fee is released: the next epoch spends it.",
    "rejected": "The fee is rejected: it is never spent; the next report shows the reason.",
    "breaker-reset": "The circuit breaker is closed.",
    "triggered": "An epoch has started; reload to see it.",
}

Handler = Callable[[Request], Awaitable[Response]]


def _html(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any
) -> HTMLResponse:
    body = environment().get_template(template).render(**values)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _redirect(to: str, headers: dict[str, str] | None = None) -> Response:
    return RedirectResponse(to, status_code=303, headers={**NO_STORE, **(headers or {})})


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, or None when it is larger than MAX_FORM_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


class Pages:
    """The read-only pages and the login; `page()` is the gate in front of each page."""

    def __init__(self, ctx: ConsoleContext, auth: ConsoleAuth) -> None:
        self.ctx = ctx
        self.auth = auth

    def common(self, request: Request, identity: Identity, **values: Any) -> dict[str, Any]:
        nonce = identity.session_nonce
        return {
            "operator": identity.who == "operator",
            "csrf": self.auth.csrf_token(nonce) if nonce is not None else "",
            "login_enabled": self.auth.enabled,
            # A code, shown through a fixed sentence: a link cannot make the page say anything.
            "flash": FLASH.get(request.query_params.get("done", ""), ""),
            "settings": self.ctx.settings,
            **values,
        }

    def page(self, render: Callable[[Request, Identity], Awaitable[Response]]) -> Handler:
        async def handler(request: Request) -> Response:
            wait = self.auth.retry_after(request)
            identity = self.auth.identify(request)
            if identity.who == "refused" or (wait is not None and identity.who != "anonymous"):
                return self._refusal(request, identity, wait)
            if identity.who == "anonymous" and not self.ctx.settings.console_public:
                return _redirect("/login")
            return await render(request, identity)

        return handler

    def _refusal(self, request: Request, identity: Identity, wait: float | None) -> Response:
        if wait is not None:
            return _html(
                "message.html",
                429,
                {"Retry-After": str(max(1, math.ceil(wait)))},
                **self.common(request, Identity("anonymous"), message="Too many failed attempts."),
            )
        self.auth.record_failure(request)
        log.warning("console.auth_failed", client=client_of(request), path=request.url.path)
        return _html(
            "message.html",
            401,
            {"WWW-Authenticate": 'Bearer realm="flywheel"'},
            **self.common(request, Identity("anonymous"), message=identity.why),
        )

    async def overview(self, request: Request, identity: Identity) -> Response:
        facts = await overview_page(self.ctx)
        return _html("overview.html", **self.common(request, identity, **facts))

    async def epochs(self, request: Request, identity: Identity) -> Response:
        text = request.query_params.get("page", "0")
        number = int(text) if text.isdigit() and len(text) < 6 else 0
        return _html(
            "epochs.html", **self.common(request, identity, **epochs_page(self.ctx, number))
        )

    async def report(self, request: Request, identity: Identity) -> Response:
        name = str(request.path_params["name"])
        path = self.ctx.settings.reports_dir / name
        if not REPORT_NAME.match(name) or path.is_symlink() or not path.is_file():
            return _html(
                "message.html", 404, **self.common(request, identity, message="No such report.")
            )
        return FileResponse(path, media_type="application/json", headers=NO_STORE)

    async def proof(self, request: Request, identity: Identity) -> Response:
        document = self._proof()
        if request.url.path.endswith(".json"):
            return Response(document.model_dump_json(indent=2), media_type="application/json")
        # The page inlines its stylesheet (it must also open alone, from `flywheel proof`).
        page = render_proof(document, str(self.ctx.settings.explorer_url))
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": PROOF_CSP}
        return HTMLResponse(page, headers=headers)

    def _proof(self) -> ProofDocument:
        try:
            reports = load_epoch_reports(self.ctx.settings.reports_dir)
        except OperationalError as exc:
            raise HTTPException(500, str(exc)) from None
        return proof_document(self.ctx.settings, reports)

    @staticmethod
    async def css(_: Request) -> Response:
        return Response(
            stylesheet(), media_type="text/css", headers={"Cache-Control": "max-age=300"}
        )

    async def login_form(self, request: Request) -> Response:
        return _html("login.html", **self.common(request, self.auth.identify(request)))

    async def login(self, request: Request) -> Response:
        anonymous = Identity("anonymous")
        if not self.auth.enabled:
            message = "Login is off: WEBHOOK_SECRET is unset or shorter than 32 characters."
            return _html("login.html", 403, **self.common(request, anonymous, error=message))
        wait = self.auth.retry_after(request)
        if wait is not None:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            message = "Too many failed attempts; try again later."
            return _html(
                "login.html", 429, headers, **self.common(request, anonymous, error=message)
            )
        form = await _form(request)
        if form is None or not self.auth.secret_matches(form.get("secret", "").encode("utf-8")):
            self.auth.record_failure(request)
            log.warning("console.login_failed", client=client_of(request))
            return _html(
                "login.html", 401, **self.common(request, anonymous, error="Wrong secret.")
            )
        log.info("console.login", client=client_of(request))
        secure = request.url.scheme == "https"
        return _redirect(
            "/", {"Set-Cookie": self.auth.cookie_header(self.auth.new_session(), secure=secure)}
        )

    async def logout(self, _: Request) -> Response:
        return _redirect(
            "/login", {"Set-Cookie": self.auth.cookie_header("", secure=False, max_age=0)}
        )

    def routes(self) -> list[BaseRoute]:
        page = self.page
        return [
            Route("/", page(self.overview), methods=["GET"]),
            Route("/epochs", page(self.epochs), methods=["GET"]),
            Route("/reports/{name}", page(self.report), methods=["GET"]),
            Route("/proof", page(self.proof), methods=["GET"]),
            Route("/proof.json", page(self.proof), methods=["GET"]),
            Route("/static/console.css", self.css, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]


def console_routes(ctx: ConsoleContext, auth: ConsoleAuth) -> list[BaseRoute]:
    return Pages(ctx, auth).routes() + Actions(ctx, auth).routes()


class Actions:
    """The operator's actions: each one authorized (operator, CSRF, limiter), then run."""

    def __init__(self, ctx: ConsoleContext, auth: ConsoleAuth) -> None:
        self.ctx = ctx
        self.auth = auth
        self.reports_dir = self.ctx.settings.reports_dir

    def action(
        self, name: str, run: Callable[[Request, dict[str, str]], Awaitable[str]]
    ) -> Handler:
        async def handler(request: Request) -> Response:
            refusal, form = await self._authorize(request)
            if refusal is not None:
                return refusal
            assert form is not None
            why = await run(request, form)
            log.info("console.action", action=name, client=client_of(request), refused=why)
            if why:
                return _html("message.html", 409, message=why, operator=True, login_enabled=True)
            return _redirect(f"/?done={quote(name)}")

        return handler

    async def _authorize(self, request: Request) -> tuple[Response | None, dict[str, str] | None]:
        if not self.auth.enabled:
            return Response("console actions are off: WEBHOOK_SECRET unset or short", 403), None
        wait = self.auth.retry_after(request)
        if wait is not None:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            return Response("too many failed attempts", 429, headers=headers), None
        identity = self.auth.identify(request)
        form = await _form(request)
        if form is None:
            return Response(f"form larger than {MAX_FORM_BYTES} bytes", 413), None
        why = ""
        if identity.who != "operator":
            why = identity.why or "log in first (or send Authorization: Bearer <WEBHOOK_SECRET>)"
        elif not self.auth.csrf_ok(identity, form.get("csrf")):
            why = "the form's CSRF token is missing or wrong; reload the page"
        if why:
            self.auth.record_failure(request)
            log.warning("console.action_refused", client=client_of(request), why=why)
            status = 403 if identity.who == "operator" else 401
            return Response(why, status, headers=NO_STORE), None
        return None, form

    async def launch(self, request: Request, form: dict[str, str]) -> str:
        epoch = str(request.path_params["epoch"])
        return actions.mark_launched(
            self.ctx.store, self.reports_dir, epoch, form.get("campaign_id", "")
        )

    async def cancel(self, request: Request, _: dict[str, str]) -> str:
        return actions.cancel_spec(
            self.ctx.store, self.reports_dir, str(request.path_params["epoch"])
        )

    async def release(self, request: Request, _: dict[str, str]) -> str:
        return actions.release_fee(self.ctx.store, str(request.path_params["signature"]))

    async def reject(self, request: Request, form: dict[str, str]) -> str:
        return actions.reject_fee(
            self.ctx.store, str(request.path_params["signature"]), form.get("reason", "")
        )

    async def reset(self, _: Request, __: dict[str, str]) -> str:
        self.ctx.service.reset_breaker()
        return ""

    async def trigger(self, request: Request, _: dict[str, str]) -> str:
        result = await self.ctx.service.trigger(f"console:{client_of(request)}")
        return {
            "accepted": "",
            "busy": "an epoch is already running",
            "locked": "another process is running an epoch on this state",
            "breaker-open": "the circuit breaker is open: reset it first",
            "stopping": "the service is shutting down",
        }[result.status]

    def routes(self) -> list[BaseRoute]:
        act = self.action
        return [
            Route("/actions/ads/{epoch}/launch", act("launched", self.launch), methods=["POST"]),
            Route("/actions/ads/{epoch}/cancel", act("cancelled", self.cancel), methods=["POST"]),
            Route(
                "/actions/fees/{signature}/release",
                act("released", self.release),
                methods=["POST"],
            ),
            Route(
                "/actions/fees/{signature}/reject", act("rejected", self.reject), methods=["POST"]
            ),
            Route("/actions/breaker/reset", act("breaker-reset", self.reset), methods=["POST"]),
            Route("/actions/epoch/trigger", act("triggered", self.trigger), methods=["POST"]),
        ]
