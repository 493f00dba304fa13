"""Jito's block engine: `sendTransaction` for our swaps, and the tip accounts a tip may go to.

A swap sent here (`<engine>/api/v1/transactions`, base64, no preflight) reaches Jito's
validators without passing the public mempool path; its tip is a plain SOL transfer inside it
to one of Jito's published tip accounts. Those accounts are constants of this module (Jito's
documented eight), not the engine's answer: `getTipAccounts` is only used to pick among them,
and an engine naming others is refused. The guard allows exactly JITO_TIP_LAMPORTS to these
accounts and nothing else.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
from solders.pubkey import Pubkey

from flywheel.errors import OperationalError, TemporaryError

# Jito's published mainnet tip accounts (docs.jito.wtf, "Tips").
JITO_TIP_ACCOUNTS: frozenset[Pubkey] = frozenset(
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


class JitoClient:
    """JSON-RPC to one block engine; errors come out as flywheel errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, follow_redirects=False
        )

    def __repr__(self) -> str:
        return f"JitoClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _rpc(self, path: str, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            response = await self._http.post(path, json=body)
        except httpx.TimeoutException:
            raise TemporaryError(f"Jito {method}: no answer from {self.base_url}") from None
        except httpx.HTTPError as exc:
            raise TemporaryError(
                f"Jito {method}: cannot reach {self.base_url} ({type(exc).__name__})"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryError(f"Jito {method}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise OperationalError(f"Jito {method}: the answer is not JSON") from None
        if not isinstance(answer, dict) or "error" in answer or response.status_code != 200:
            detail = answer.get("error") if isinstance(answer, dict) else answer
            raise OperationalError(f"Jito {method} refused (HTTP {response.status_code}): {detail}")
        return answer.get("result")

    async def tip_account(self) -> Pubkey:
        """A tip account at random among those the engine names that are Jito's own."""
        result = await self._rpc("/api/v1/getTipAccounts", "getTipAccounts", [])
        if not isinstance(result, list):
            raise OperationalError("Jito getTipAccounts: the answer is not a list")
        named: list[Pubkey] = []
        for key in result:
            try:
                named.append(Pubkey.from_string(str(key)))
            except ValueError:
                raise OperationalError(f"Jito getTipAccounts: {key!r} is not an address") from None
        foreign = [k for k in named if k not in JITO_TIP_ACCOUNTS]
        if foreign or not named:
            raise OperationalError(
                f"Jito getTipAccounts names {foreign[0] if foreign else 'no account'}, not one of "
                "Jito's published tip accounts: not tipping it"
            )
        return secrets.choice(sorted(named, key=str))

    async def send_transaction(self, raw: bytes) -> None:
        """Hand signed bytes to the engine (same bytes on every resend, like the RPC path)."""
        encoded = base64.b64encode(raw).decode()
        await self._rpc(
            "/api/v1/transactions", "sendTransaction", [encoded, {"encoding": "base64"}]
        )
