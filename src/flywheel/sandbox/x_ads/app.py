"""An X-Ads-compatible API (v12) over the in-memory sandbox account, to rehearse on.

Every `/12/...` request goes through the same gate as at X: a 5xx fault if one is armed, the
OAuth 1.0a signature, the rate limit (429 with `x-rate-limit-*` headers), then the handler.
Answers use X's envelope: `{"data": ..., "request": {"params": ...}}` (lists add `next_cursor`
and `total_count`), errors `{"errors": [{"code", "message", "parameter"}]}`.
`/_sandbox/...` is the loopback-only control surface for tests and the `sandbox` command.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flywheel.sandbox.x_ads.entities import Entity
from flywheel.sandbox.x_ads.oauth import signed_url
from flywheel.sandbox.x_ads.params import (
    GRANULARITIES,
    METRIC_GROUPS,
    STATS_ENTITIES,
    STATS_PLACEMENTS,
    ApiError,
    Params,
    invalid,
)
from flywheel.sandbox.x_ads.state import XAdsFaults, XAdsSandboxState

__all__ = ["XAdsFaults", "XAdsSandboxState", "build_x_ads_app"]

log = logging.getLogger(__name__)

MAX_STATS_ENTITIES = 20
MAX_STATS_WINDOW = timedelta(days=7)

Handler = Callable[[Params, dict[str, str]], tuple[int, dict[str, Any]]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _page(entities: Sequence[Entity], params: Params, echo: dict[str, Any]) -> dict[str, Any]:
    start, count = params.cursor(), params.count()
    chunk = entities[start : start + count]
    more = start + count < len(entities)
    return {
        "data": [entity.to_api() for entity in chunk],
        "next_cursor": str(start + count) if more else None,
        "total_count": len(entities),
        "request": {"params": echo},
    }


def _one(entity: Entity, echo: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"data": entity.to_api(), "request": {"params": echo}}


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host == "::1" or host.startswith("127.")


def build_x_ads_app(state: XAdsSandboxState) -> Starlette:
    store = state.store

    def gate(handler: Handler) -> Endpoint:
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

    # -- accounts and funding ------------------------------------------------------------------

    def list_accounts(params: Params, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        accounts = [a for a in store.accounts.values() if not a.deleted]
        return 200, _page(accounts, params, params.echo())

    def get_account(params: Params, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        return _one(account, params.echo(account_id=account.id))

    def list_instruments(params: Params, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        data = store.instrument_json(account.id, params.flag("with_deleted"))
        wanted = set(params.csv("funding_instrument_ids"))
        if wanted:
            data = [fi for fi in data if fi["id"] in wanted]
        echo = params.echo(account_id=account.id)
        return 200, {
            "data": data,
            "next_cursor": None,
            "total_count": len(data),
            "request": {"params": echo},
        }

    # -- campaigns -----------------------------------------------------------------------------

    def campaigns(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id)
        if method == "POST":
            return _one(store.create_campaign(account.id, params), echo)
        found = store.select(
            store.campaigns,
            account.id,
            params,
            {
                "campaign_ids": lambda c: c.id,
                "funding_instrument_ids": lambda c: c.funding_instrument_id,
            },
            name_of=lambda c: c.name,
        )
        if not params.flag("with_draft"):
            found = [c for c in found if c.entity_status != "DRAFT"]
        return 200, _page(found, params, echo)

    def campaign(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id, campaign_id=path["id"])
        if method == "PUT":
            return _one(store.update_campaign(account.id, path["id"], params), echo)
        if method == "DELETE":
            return _one(store.delete(store.campaigns, account.id, path["id"], "campaign_id"), echo)
        return _one(store.find(store.campaigns, account.id, path["id"], "campaign_id"), echo)

    # -- line items ----------------------------------------------------------------------------

    def line_items(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id)
        if method == "POST":
            return _one(store.create_line_item(account.id, params), echo)
        found = store.select(
            store.line_items,
            account.id,
            params,
            {"line_item_ids": lambda li: li.id, "campaign_ids": lambda li: li.campaign_id},
            name_of=lambda li: li.name,
        )
        return 200, _page(found, params, echo)

    def line_item(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id, line_item_id=path["id"])
        if method == "PUT":
            return _one(store.update_line_item(account.id, path["id"], params), echo)
        if method == "DELETE":
            return _one(
                store.delete(store.line_items, account.id, path["id"], "line_item_id"), echo
            )
        return _one(store.find(store.line_items, account.id, path["id"], "line_item_id"), echo)

    # -- targeting criteria and promoted posts -------------------------------------------------

    def criteria(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id)
        if method == "POST":
            return _one(store.create_criterion(account.id, params), echo)
        params.csv("line_item_ids", required=True)
        found = store.select(
            store.criteria,
            account.id,
            params,
            {
                "line_item_ids": lambda t: t.line_item_id,
                "targeting_criterion_ids": lambda t: t.id,
            },
        )
        return 200, _page(found, params, echo)

    def criterion(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id, targeting_criterion_id=path["id"])
        if method == "DELETE":
            deleted = store.delete(store.criteria, account.id, path["id"], "targeting_criterion_id")
            return _one(deleted, echo)
        return _one(
            store.find(store.criteria, account.id, path["id"], "targeting_criterion_id"), echo
        )

    def promoted(params: Params, path: dict[str, str], method: str) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id)
        if method == "POST":
            created = store.create_promoted(account.id, params)
            data = [p.to_api() for p in created]
            return 200, {
                "data": data,
                "next_cursor": None,
                "total_count": len(data),
                "request": {"params": echo},
            }
        found = store.select(
            store.promoted,
            account.id,
            params,
            {"line_item_ids": lambda p: p.line_item_id, "promoted_tweet_ids": lambda p: p.id},
        )
        return 200, _page(found, params, echo)

    def promoted_one(
        params: Params, path: dict[str, str], method: str
    ) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        echo = params.echo(account_id=account.id, promoted_tweet_id=path["id"])
        if method == "DELETE":
            deleted = store.delete(store.promoted, account.id, path["id"], "promoted_tweet_id")
            return _one(deleted, echo)
        return _one(store.find(store.promoted, account.id, path["id"], "promoted_tweet_id"), echo)

    # -- stats ---------------------------------------------------------------------------------

    def stats(params: Params, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account = store.account(path["account_id"])
        entity = params.enum("entity", STATS_ENTITIES)
        ids = params.csv("entity_ids", required=True, max_items=MAX_STATS_ENTITIES)
        groups = params.enum_list("metric_groups", METRIC_GROUPS, required=True)
        granularity = params.enum("granularity", GRANULARITIES)
        params.enum("placement", STATS_PLACEMENTS)
        start = params.time("start_time", required=True)
        end = params.time("end_time", required=True)
        assert start is not None and end is not None
        if end <= start:
            raise invalid("end_time", "end_time must be after start_time")
        if end - start > MAX_STATS_WINDOW:
            raise invalid("end_time", "The time window must not exceed 7 days")
        length = 1
        if granularity != "TOTAL":
            step = timedelta(days=1) if granularity == "DAY" else timedelta(hours=1)
            length = max(1, -(-(end - start) // step))
        billed = store.billed(account.id, entity, ids)

        def series(value: int) -> list[int]:
            # The sandbox does not date its spend: all of it falls in the last bucket.
            return [0] * (length - 1) + [value]

        data = []
        for entity_id in ids:
            metrics: dict[str, list[int] | None] = {}
            if "BILLING" in groups:
                metrics["billed_charge_local_micro"] = series(billed[entity_id])
                metrics["billed_engagements"] = series(billed[entity_id] // 250_000)
            if "ENGAGEMENT" in groups:
                metrics["impressions"] = series(billed[entity_id] // 5_000)
                metrics["engagements"] = series(billed[entity_id] // 250_000)
            data.append({"id": entity_id, "id_data": [{"segment": None, "metrics": metrics}]})
        return 200, {
            "data_type": "stats",
            "time_series_length": length,
            "data": data,
            "request": {"params": params.echo(account_id=account.id)},
        }

    # -- sandbox control (loopback only, unsigned) ---------------------------------------------

    async def control(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "the sandbox control API answers loopback only"}, 403)
        name = request.path_params["name"]
        if request.method == "GET" and name == "state":
            return JSONResponse(state.dump())
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("send a JSON object")
            if request.method == "POST" and name == "faults":
                return JSONResponse(state.update_faults(body))
            if request.method == "POST" and name == "spend":
                line_item_id, micro = body.get("line_item_id"), body.get("micro")
                if not isinstance(line_item_id, str) or not isinstance(micro, int) or micro < 0:
                    raise ValueError("send {'line_item_id': str, 'micro': non-negative int}")
                billed = store.add_spend(line_item_id, micro)
                return JSONResponse({"line_item_id": line_item_id, "billed_micro": billed})
        except (ValueError, ApiError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse({"error": f"no control {request.method} /_sandbox/{name}"}, 404)

    def by_method(
        handler: Callable[[Params, dict[str, str], str], tuple[int, dict[str, Any]]],
    ) -> Endpoint:
        gated: dict[str, Endpoint] = {}

        async def endpoint(request: Request) -> Response:
            method = request.method
            if method not in gated:
                gated[method] = gate(lambda params, path: handler(params, path, method))
            return await gated[method](request)

        return endpoint

    account = "/12/accounts/{account_id}"
    routes = [
        Route("/12/accounts", gate(list_accounts), methods=["GET"]),
        Route(account, gate(get_account), methods=["GET"]),
        Route(f"{account}/funding_instruments", gate(list_instruments), methods=["GET"]),
        Route(f"{account}/campaigns", by_method(campaigns), methods=["GET", "POST"]),
        Route(f"{account}/campaigns/{{id}}", by_method(campaign), methods=["GET", "PUT", "DELETE"]),
        Route(f"{account}/line_items", by_method(line_items), methods=["GET", "POST"]),
        Route(
            f"{account}/line_items/{{id}}", by_method(line_item), methods=["GET", "PUT", "DELETE"]
        ),
        Route(f"{account}/targeting_criteria", by_method(criteria), methods=["GET", "POST"]),
        Route(
            f"{account}/targeting_criteria/{{id}}", by_method(criterion), methods=["GET", "DELETE"]
        ),
        Route(f"{account}/promoted_tweets", by_method(promoted), methods=["GET", "POST"]),
        Route(
            f"{account}/promoted_tweets/{{id}}", by_method(promoted_one), methods=["GET", "DELETE"]
        ),
        Route("/12/stats/accounts/{account_id}", gate(stats), methods=["GET"]),
        Route("/_sandbox/{name}", control, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: _no_route, 405: _no_route})


async def _no_route(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    code = "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED"
    message = f"No resource {request.method} {request.url.path}"
    return JSONResponse(ApiError(status, code, message).body(), status_code=status)
