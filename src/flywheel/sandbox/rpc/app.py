"""The sandbox's Solana JSON-RPC server (Starlette), with HTTP-level faults and controls.

POST /                      JSON-RPC 2.0, single or batch (see rpc_methods for the methods)
GET  /_sandbox/faults       the current faults
POST /_sandbox/faults       change faults: a JSON object of Faults fields
POST /_sandbox/advance      {"slots": N}: step the chain's clock
The control endpoints answer loopback clients only.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Trickle
from flywheel.sandbox.rpc.encode import Json, RpcError
from flywheel.sandbox.rpc.methods import METHODS

log = logging.getLogger(__name__)

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


def _envelope(request_id: Json, *, result: Json = None, error: RpcError | None = None) -> Json:
    if error is not None:
        return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def handle_call(chain: SandboxChain, call: Json) -> Json:
    """One JSON-RPC call (already decoded) to its response object."""
    if not isinstance(call, dict):
        return _envelope(None, error=RpcError(-32600, "Invalid request"))
    request_id = call.get("id")
    name = call.get("method")
    params = call.get("params", [])
    if call.get("jsonrpc") != "2.0" or not isinstance(name, str):
        return _envelope(request_id, error=RpcError(-32600, "Invalid request"))
    handler = METHODS.get(name)
    if handler is None:
        return _envelope(request_id, error=RpcError(-32601, "Method not found"))
    if params is None:
        params = []
    if not isinstance(params, list):
        return _envelope(request_id, error=RpcError(-32602, "Invalid params: expected an array"))
    try:
        return _envelope(request_id, result=handler(chain, params))
    except RpcError as exc:
        return _envelope(request_id, error=exc)
    except Exception:  # a bug here must not take the server down; the client sees -32603
        log.exception("sandbox rpc method %s failed", name)
        return _envelope(request_id, error=RpcError(-32603, "Internal error"))


def _json(body: Json, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def build_rpc_app(chain: SandboxChain) -> Starlette:
    faults = chain.faults
    return Starlette(
        routes=[_rpc_route(chain), *_control_routes(chain)],
        middleware=[Middleware(Trickle, delay_ms=lambda: faults.rpc_trickle_ms)],
    )


def _rpc_route(chain: SandboxChain) -> Route:
    """POST /: the JSON-RPC endpoint, behind the HTTP-level faults a public node shows."""
    faults = chain.faults

    async def rpc(request: Request) -> Response:
        if faults.rpc_latency_ms > 0:
            await asyncio.sleep(faults.rpc_latency_ms / 1000)
        if faults.roll(faults.rpc_429_rate):
            retry_after = str(faults.rpc_retry_after_seconds)
            body = {
                "jsonrpc": "2.0",
                "error": {"code": 429, "message": "Too many requests for a specific RPC call"},
                "id": None,
            }
            return _json(body, 429, {"Retry-After": retry_after})
        if faults.roll(faults.rpc_5xx_rate):
            return Response("Service Unavailable", status_code=503, media_type="text/plain")
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _json(_envelope(None, error=RpcError(-32700, "Parse error")))
        if isinstance(payload, list):
            if not payload:
                return _json(_envelope(None, error=RpcError(-32600, "Invalid request")))
            return _json([handle_call(chain, call) for call in payload])
        return _json(handle_call(chain, payload))

    return Route("/", rpc, methods=["POST"])


def _control_routes(chain: SandboxChain) -> list[Route]:
    """The /_sandbox/ endpoints tests use to set faults and step the clock."""
    faults = chain.faults

    def _loopback(request: Request) -> bool:
        return request.client is not None and request.client.host in _LOOPBACK

    async def get_faults(request: Request) -> Response:
        if not _loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        return JSONResponse(faults.as_dict())

    async def set_faults(request: Request) -> Response:
        if not _loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        try:
            changes = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(changes, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        try:
            faults.update(**changes)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(faults.as_dict())

    async def advance(request: Request) -> Response:
        if not _loopback(request):
            return JSONResponse({"error": "loopback only"}, status_code=403)
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        slots = body.get("slots", 1) if isinstance(body, dict) else None
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
            return JSONResponse({"error": "slots must be an integer >= 0"}, status_code=400)
        chain.advance(slots)
        return JSONResponse({"slot": chain.slot(), "blockHeight": chain.block_height()})

    return [
        Route("/_sandbox/faults", get_faults, methods=["GET"]),
        Route("/_sandbox/faults", set_faults, methods=["POST"]),
        Route("/_sandbox/advance", advance, methods=["POST"]),
    ]
