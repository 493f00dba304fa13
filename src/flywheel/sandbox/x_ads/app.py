"""An X-Ads-compatible API (v12) over the in-memory sandbox account, to rehearse on.

Every `/12/...` request goes through the same gate as at X (gate.py): a 5xx fault if one is
armed, the OAuth 1.0a signature, the rate limit, then the handler (resources.py, stats.py).
Answers use X's envelope: `{"data": ..., "request": {"params": ...}}` (lists add `next_cursor`
and `total_count`), errors `{"errors": [{"code", "message", "parameter"}]}`.
`/_sandbox/...` is the loopback-only control surface for tests and the `sandbox` command
(control.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flywheel.sandbox.x_ads import resources as r
from flywheel.sandbox.x_ads.control import control_endpoint
from flywheel.sandbox.x_ads.gate import Answer, Endpoint, by_method, gate
from flywheel.sandbox.x_ads.params import ApiError, Params
from flywheel.sandbox.x_ads.state import XAdsFaults, XAdsSandboxState
from flywheel.sandbox.x_ads.stats import stats
from flywheel.sandbox.x_ads.store import XAdsStore

__all__ = ["XAdsFaults", "XAdsSandboxState", "build_x_ads_app"]


StoreHandler = Callable[[XAdsStore, Params, dict[str, str]], Answer]
StoreMethodHandler = Callable[[XAdsStore, Params, dict[str, str], str], Answer]


def build_x_ads_app(state: XAdsSandboxState) -> Starlette:
    def get(handler: StoreHandler) -> Endpoint:
        return gate(state, partial(handler, state.store))

    def methods(handler: StoreMethodHandler) -> Endpoint:
        return by_method(state, partial(handler, state.store))

    account = "/12/accounts/{account_id}"
    read_write, one_of = ["GET", "POST"], ["GET", "PUT", "DELETE"]
    routes = [
        Route("/12/accounts", get(r.list_accounts), methods=["GET"]),
        Route(account, get(r.get_account), methods=["GET"]),
        Route(f"{account}/funding_instruments", get(r.list_instruments), methods=["GET"]),
        Route(f"{account}/campaigns", methods(r.campaigns), methods=read_write),
        Route(f"{account}/campaigns/{{id}}", methods(r.campaign), methods=one_of),
        Route(f"{account}/line_items", methods(r.line_items), methods=read_write),
        Route(f"{account}/line_items/{{id}}", methods(r.line_item), methods=one_of),
        Route(f"{account}/targeting_criteria", methods(r.criteria), methods=read_write),
        Route(
            f"{account}/targeting_criteria/{{id}}", methods(r.criterion), methods=["GET", "DELETE"]
        ),
        Route(f"{account}/promoted_tweets", methods(r.promoted), methods=read_write),
        Route(
            f"{account}/promoted_tweets/{{id}}", methods(r.promoted_one), methods=["GET", "DELETE"]
        ),
        Route("/12/stats/accounts/{account_id}", get(stats), methods=["GET"]),
        Route("/_sandbox/{name}", control_endpoint(state), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: _no_route, 405: _no_route})


async def _no_route(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    code = "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED"
    message = f"No resource {request.method} {request.url.path}"
    return JSONResponse(ApiError(status, code, message).body(), status_code=status)
