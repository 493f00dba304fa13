"""JSON-RPC 2.0 answers of a Solana node, read without trusting them: pure, no I/O.

solders parses a well-formed result into its typed response, but not an error or a wrong shape:
for an unknown code it returns the bare int (−32000 became `'int' object has no attribute
'value'`), and for a −32002 without `data` it panics. So the envelope and every error are read
here, by code, and solders only ever sees a result; whatever it still refuses is a malformed
answer. Every problem becomes an error of `flywheel.errors` naming the call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError

_MAX_SHOWN = 200  # a node's message goes into reports: keep it readable


class Code(NamedTuple):
    name: str
    temporary: bool  # ask again shortly, rather than "this request is wrong"


# Solana's own codes (solana-rpc-client-api `custom_error.rs`) and JSON-RPC 2.0's.
CODES: dict[int, Code] = {
    -32001: Code("block cleaned up", False),
    -32002: Code("transaction preflight failure", False),
    -32003: Code("transaction signature verification failure", False),
    -32004: Code("block not available", True),
    -32005: Code("node unhealthy", True),
    -32006: Code("transaction precompile verification failure", False),
    -32007: Code("slot skipped", False),
    -32008: Code("no snapshot", True),
    -32009: Code("long-term storage slot skipped", False),
    -32010: Code("key excluded from secondary index", False),
    -32011: Code("transaction history not available", False),
    -32012: Code("scan error", True),
    -32013: Code("transaction signature length mismatch", False),
    -32014: Code("block status not available yet", True),
    -32015: Code("unsupported transaction version", False),
    -32016: Code("minimum context slot not reached", True),
    -32017: Code("epoch rewards period active", True),
    -32018: Code("slot not epoch boundary", False),
    -32019: Code("long-term storage unreachable", True),
    -32000: Code("server error", True),  # providers' catch-all: overload, node behind
    -32600: Code("invalid request", False),
    -32601: Code("method not found", False),
    -32602: Code("invalid params", False),
    -32603: Code("internal error", True),
    -32700: Code("parse error", False),
}
# Codes some providers use for "slow down" inside a JSON-RPC error, with HTTP 200.
RATE_LIMIT_CODES = frozenset({429, -32429})


def _clip(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def rpc_error(method: str, error: object) -> FlywheelError:
    """The flywheel error for one JSON-RPC `error` member, whatever its shape."""
    if not isinstance(error, dict):
        return OperationalError(
            f"RPC {method}: the node answered a malformed error: {_clip(error)}"
        )
    code = error.get("code")
    message = _clip(error.get("message") or "no message")
    if isinstance(code, bool) or not isinstance(code, int):
        return OperationalError(f"RPC {method}: error without a numeric code: {message}")
    if code in RATE_LIMIT_CODES:
        return RateLimited(f"RPC {method}: 429 Too Many Requests (JSON-RPC {code}: {message})")
    known = CODES.get(code)
    if known is None:
        return OperationalError(f"RPC {method}: unknown JSON-RPC error {code}: {message}")
    text = f"RPC {method}: {known.name} ({code}): {message}"
    return TemporaryError(text) if known.temporary else OperationalError(text)


def decode(method: str, text: str) -> Any:
    """The JSON of an answer body; not JSON is a malformed answer."""
    try:
        return json.loads(text)
    except ValueError:
        raise OperationalError(
            f"RPC {method}: the answer is not JSON ({_clip(text) or 'empty'}): is SOLANA_RPC_URL "
            "a JSON-RPC endpoint?"
        ) from None


def result_of(method: str, answer: Any, parser: Any) -> Any:
    """The typed response (`parser`, a solders `*Resp` class) of one JSON-RPC answer object."""
    if not isinstance(answer, dict):
        raise OperationalError(
            f"RPC {method}: the answer is not a JSON-RPC object: {_clip(answer)}"
        )
    if answer.get("error") is not None:
        raise rpc_error(method, answer["error"])
    if "result" not in answer:
        raise OperationalError(f"RPC {method}: the answer has neither a result nor an error")
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "result": answer["result"]})
    try:
        parsed = parser.from_json(body)
    except (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit):
        raise
    except BaseException:
        parsed = None
    if not isinstance(parsed, parser):
        raise OperationalError(
            f"RPC {method}: the result does not have the shape of {parser.__name__}: "
            f"{_clip(answer['result'])}"
        )
    return parsed


def batch_results(label: str, answers: Any, parsers: Sequence[Any]) -> list[Any]:
    """The typed responses of a batch, in request order (answers carry ids 0..n-1)."""
    if isinstance(answers, dict) and answers.get("error") is not None:
        raise rpc_error(label, answers["error"])  # the batch as a whole was refused
    if not isinstance(answers, list) or len(answers) != len(parsers):
        raise OperationalError(f"RPC {label}: the server did not answer as a batch")
    by_id: dict[int, Any] = {}
    for answer in answers:
        index = answer.get("id") if isinstance(answer, dict) else None
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(parsers):
            by_id[index] = answer
    if len(by_id) != len(parsers):
        raise OperationalError(f"RPC {label}: the batch's answers do not match its requests")
    return [result_of(label, by_id[i], parser) for i, parser in enumerate(parsers)]
