"""The gate every `/12/...` request goes through, as at X: a 5xx fault if one is armed, the
OAuth 1.0a signature, the rate limit (429 with `x-rate-limit-*` headers), the spend accrued so far,
then the handler; its answer, or X's error envelope, goes back as JSON and into the request log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from flywheel.sandbox.x_ads.oauth import signed_url
from flywheel.sandbox.x_ads.params import ApiError, Params
from flywheel.sandbox.x_ads.state import XAdsSandboxState

log = logging.getLogger("flywheel.sandbox.x_ads.app")

Answer = tuple[int, dict[str, Any]]
Handler = Callable[[Params, dict[str, str]], Answer]
MethodHandler = Callable[[Params, dict[str, str], str], Answer]
Endpoint = Callable[[Request], Awaitable[Response]]


def gate(state: XAdsSandboxState, handler: Handler) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_form = content_type == "application/x-www-form-urlencoded"
        query = request.scope["query_string"].decode("latin-1")
        pairs = parse_qsl(query, keep_blank_values=True)
        if is_form and body:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = Params(pairs)
        # The path exactly as sent (still percent-encoded) is what the client signed.
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        headers: dict[str, str] = {}
        try:
            failure = state.take_server_error()
            if failure is not None:
                raise ApiError(
                    failure, "SERVICE_UNAVAILABLE", "Service unavailable (sandbox fault)"
                )
            state.verifier.verify(
                method=request.method,
                url=signed_url(request.url.scheme, request.headers, raw_path),
                authorization=request.headers.get("authorization"),
                params=pairs,
                body=body,
                form_body=is_form,
                now=state.clock(),
            )
            allowed, window = state.rate_limit(request.method)
            headers = {
                "x-rate-limit-limit": str(window.limit),
                "x-rate-limit-remaining": str(window.remaining),
                "x-rate-limit-reset": str(window.reset),
            }
            if not allowed:
                raise ApiError(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
            state.accrue_spend()
            status, payload = handler(params, dict(request.path_params))
        except ApiError as error:
            status, payload = error.status, error.body(params.echo())
        except Exception:
            log.exception("x-ads sandbox: unexpected error on %s", request.url.path)
            status = 500
            payload = ApiError(500, "INTERNAL_ERROR", "Internal error").body(params.echo())
        state.record(request.method, request.url.path, status)
        return JSONResponse(payload, status_code=status, headers=headers)

    return endpoint


def by_method(state: XAdsSandboxState, handler: MethodHandler) -> Endpoint:
    """One route, several methods: each gets its own gated endpoint on first use."""
    gated: dict[str, Endpoint] = {}

    async def endpoint(request: Request) -> Response:
        method = request.method
        if method not in gated:
            gated[method] = gate(state, lambda params, path: handler(params, path, method))
        return await gated[method](request)

    return endpoint
