"""A Jito-compatible block engine over the sandbox chain, served beside the Jupiter routes.

`POST /jito/api/v1/transactions` (JSON-RPC `sendTransaction`, base64) lands a transaction on the
chain without preflight, as Jito's engine forwards it; `POST /jito/api/v1/getTipAccounts` names
Jito's eight published mainnet tip accounts, which the sandbox funds at their rent minimum so a
tip transfer to them succeeds. JITO_BLOCK_ENGINE_URL for the sandbox is `<jupiter url>/jito`.
Every transaction sent here is kept in `JitoEngine.sent` (its signature), for tests and benches.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flywheel.sandbox.chain.routes import send_routed

if TYPE_CHECKING:
    from flywheel.sandbox.jupiter.api import JupiterSandbox

# Jito's published mainnet tip accounts (docs.jito.wtf).
TIP_ACCOUNTS = tuple(
    Pubkey.from_string(key)
    for key in (
        "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",
        "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
        "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY",
        "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
        "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh",
        "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
        "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL",
        "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
    )
)
PATH = "/jito"


class JitoEngine:
    def __init__(self, jupiter: JupiterSandbox) -> None:
        self.jupiter = jupiter
        self.sent: list[str] = []
        self.tip_accounts: tuple[Pubkey, ...] = TIP_ACCOUNTS  # tests may make it lie
        self._funded = False

    def _fund_tip_accounts(self) -> None:
        chain = self.jupiter.chain
        with chain.lock:
            if self._funded:
                return
            rent = chain.minimum_balance_for_rent_exemption(0)
            for key in TIP_ACCOUNTS:
                if chain.balance(key) < rent:
                    chain.airdrop(key, rent)
            self._funded = True

    def tip_accounts_result(self) -> list[str]:
        self._fund_tip_accounts()
        return [str(k) for k in self.tip_accounts]

    def send(self, encoded: object) -> str:
        if not isinstance(encoded, str):
            raise ValueError("expected a base64 transaction")
        try:
            tx = VersionedTransaction.from_bytes(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not a base64 transaction") from exc
        self._fund_tip_accounts()
        signature = str(send_routed(self.jupiter.chain, tx, skip_preflight=True, route="jito"))
        self.sent.append(signature)
        return signature


def routes(jupiter: JupiterSandbox) -> list[Route]:
    engine = JitoEngine(jupiter)
    jupiter.jito = engine

    async def rpc(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(None, -32700, "parse error")
        if not isinstance(body, dict):
            return _error(None, -32600, "invalid request")
        ident, method, params = body.get("id"), body.get("method"), body.get("params") or []
        try:
            if method == "getTipAccounts":
                result: Any = await run_in_threadpool(engine.tip_accounts_result)
            elif method == "sendTransaction" and isinstance(params, list) and params:
                result = await run_in_threadpool(engine.send, params[0])
            else:
                return _error(ident, -32601, f"method not found: {method}")
        except ValueError as exc:
            return _error(ident, -32602, str(exc))
        return JSONResponse({"jsonrpc": "2.0", "id": ident, "result": result})

    return [
        Route(f"{PATH}/api/v1/transactions", rpc, methods=["POST"]),
        Route(f"{PATH}/api/v1/getTipAccounts", rpc, methods=["POST"]),
        Route(f"{PATH}/api/v1/bundles", rpc, methods=["POST"]),
    ]


def _error(ident: object, code: int, message: str) -> JSONResponse:
    body = {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=400)
