"""`/_sandbox/{name}`: the loopback-only, unsigned control surface for tests and the `sandbox`
command (GET state, POST faults, POST spend)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from flywheel.sandbox.x_ads.gate import Endpoint
from flywheel.sandbox.x_ads.params import ApiError
from flywheel.sandbox.x_ads.state import XAdsSandboxState


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host == "::1" or host.startswith("127.")


def control_endpoint(state: XAdsSandboxState) -> Endpoint:
    store = state.store

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

    return control
