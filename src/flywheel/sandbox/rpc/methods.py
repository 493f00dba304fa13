"""The JSON-RPC methods the sandbox serves, each `(chain, params) -> result`."""

from __future__ import annotations

import base64
from collections.abc import Callable

from flywheel.sandbox.chain.ledger import TxRecord
from flywheel.sandbox.chain.routes import send_routed
from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.tokens import (
    TOKEN_PROGRAMS,
    parse_mint,
    parse_token_account,
    ui_token_amount,
)
from flywheel.sandbox.chain.types import (
    InvalidTransaction,
    PreflightFailure,
    SignatureVerificationFailure,
)
from flywheel.sandbox.rpc import params as p
from flywheel.sandbox.rpc.describe import describe
from flywheel.sandbox.rpc.encode import (
    API_VERSION,
    FEATURE_SET,
    Json,
    RpcError,
    account_json,
    error_json,
    invalid_params,
    signature_info_json,
    status_json,
    transaction_json,
    with_context,
)
from flywheel.sandbox.rpc.parsed import parsed_transaction_json

Method = Callable[[SandboxChain, list[Json]], Json]
METHODS: dict[str, Method] = {}

_ACCOUNT_ENCODINGS = ("base58", "base64", "jsonParsed")
_UNSUPPORTED_VERSION = (
    "Transaction version (0) is not supported by the requesting client. Please try the request "
    'again with the following configuration parameter: "maxSupportedTransactionVersion": 0'
)


def method(name: str) -> Callable[[Method], Method]:
    def register(fn: Method) -> Method:
        METHODS[name] = fn
        return fn

    return register


def _encoding(cfg: dict[str, Json], default: str = "base58") -> str:
    encoding = cfg.get("encoding") or default
    if encoding == "binary":  # the deprecated name of base58
        encoding = "base58"
    if encoding not in _ACCOUNT_ENCODINGS:
        raise invalid_params(f"unsupported encoding: {encoding}")
    return str(encoding)


def _data_slice(cfg: dict[str, Json]) -> tuple[int, int] | None:
    value = cfg.get("dataSlice")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_params("dataSlice must be an object")
    return p.integer(value.get("offset"), "offset"), p.integer(value.get("length"), "length")


@method("getHealth")
def get_health(chain: SandboxChain, params: list[Json]) -> Json:
    return "ok"


@method("getVersion")
def get_version(chain: SandboxChain, params: list[Json]) -> Json:
    return {"solana-core": API_VERSION, "feature-set": FEATURE_SET}


@method("getSlot")
def get_slot(chain: SandboxChain, params: list[Json]) -> Json:
    return chain.slot()


@method("getFirstAvailableBlock")
def get_first_available_block(chain: SandboxChain, params: list[Json]) -> Json:
    return chain.slot() if chain.faults.rpc_short_history else chain.first_slot()


@method("minimumLedgerSlot")
def minimum_ledger_slot(chain: SandboxChain, params: list[Json]) -> Json:
    return chain.slot() if chain.faults.rpc_short_history else chain.first_slot()


def _hidden(chain: SandboxChain, record: TxRecord | None) -> bool:
    """The `rpc_hide_signer` fault: the node answers as if it never saw this transaction."""
    hide = chain.faults.rpc_hide_signer
    if record is None or not hide:
        return False
    message = record.tx.message
    signers = message.account_keys[: message.header.num_required_signatures]
    return any(str(key) == hide for key in signers)


@method("getBlockHeight")
def get_block_height(chain: SandboxChain, params: list[Json]) -> Json:
    return chain.block_height()


@method("getBalance")
def get_balance(chain: SandboxChain, params: list[Json]) -> Json:
    key = p.pubkey(p.arg(params, 0, "pubkey"))
    with chain.lock:
        return with_context(chain.slot(), chain.balance(key))


@method("getAccountInfo")
def get_account_info(chain: SandboxChain, params: list[Json]) -> Json:
    key = p.pubkey(p.arg(params, 0, "pubkey"))
    cfg = p.config(params, 1)
    encoding, data_slice = _encoding(cfg), _data_slice(cfg)
    with chain.lock:
        value = account_json(key, chain.get_account(key), encoding, chain.mint_decimals, data_slice)
        return with_context(chain.slot(), value)


@method("getMultipleAccounts")
def get_multiple_accounts(chain: SandboxChain, params: list[Json]) -> Json:
    keys = p.pubkeys(p.arg(params, 0, "pubkeys"), limit=100)
    cfg = p.config(params, 1)
    encoding, data_slice = _encoding(cfg), _data_slice(cfg)
    with chain.lock:
        values = [
            account_json(k, chain.get_account(k), encoding, chain.mint_decimals, data_slice)
            for k in keys
        ]
        return with_context(chain.slot(), values)


@method("getTokenAccountsByOwner")
def get_token_accounts_by_owner(chain: SandboxChain, params: list[Json]) -> Json:
    owner = p.pubkey(p.arg(params, 0, "owner"))
    token_filter = p.arg(params, 1, "filter")
    if not isinstance(token_filter, dict) or len(token_filter) != 1:
        raise invalid_params("expected a filter object with either mint or programId")
    mint = program = None
    if "mint" in token_filter:
        mint = p.pubkey(token_filter["mint"])
    elif "programId" in token_filter:
        program = p.pubkey(token_filter["programId"])
        if program not in TOKEN_PROGRAMS:
            raise RpcError(-32602, "Invalid param: unrecognized Token program id")
    else:
        raise invalid_params("expected a filter object with either mint or programId")
    cfg = p.config(params, 2)
    encoding, data_slice = _encoding(cfg), _data_slice(cfg)
    with chain.lock:
        if mint is not None:
            mint_account = chain.get_account(mint)
            if mint_account is None or parse_mint(mint_account) is None:
                raise RpcError(-32602, "Invalid param: could not find mint")
        found = chain.token_accounts_by_owner(owner, mint=mint, program_id=program)
        value = [
            {
                "pubkey": str(holding.address),
                "account": account_json(
                    holding.address, account, encoding, chain.mint_decimals, data_slice
                ),
            }
            for holding, account in found
        ]
        return with_context(chain.slot(), value)


@method("getTokenAccountBalance")
def get_token_account_balance(chain: SandboxChain, params: list[Json]) -> Json:
    key = p.pubkey(p.arg(params, 0, "pubkey"))
    with chain.lock:
        account = chain.get_account(key)
        holding = None if account is None else parse_token_account(key, account)
        decimals = None if holding is None else chain.mint_decimals(holding.mint)
        if holding is None or decimals is None:
            raise RpcError(-32602, "Invalid param: not a Token account")
        return with_context(chain.slot(), ui_token_amount(holding.amount, decimals))


@method("getTokenSupply")
def get_token_supply(chain: SandboxChain, params: list[Json]) -> Json:
    key = p.pubkey(p.arg(params, 0, "mint"))
    with chain.lock:
        account = chain.get_account(key)
        mint = None if account is None else parse_mint(account)
        if mint is None:
            raise RpcError(-32602, "Invalid param: not a Token mint")
        return with_context(chain.slot(), ui_token_amount(mint.supply, mint.decimals))


@method("getLatestBlockhash")
def get_latest_blockhash(chain: SandboxChain, params: list[Json]) -> Json:
    with chain.lock:
        blockhash, last_valid = chain.latest_blockhash()
        value = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        return with_context(chain.slot(), value)


@method("isBlockhashValid")
def is_blockhash_valid(chain: SandboxChain, params: list[Json]) -> Json:
    blockhash = p.blockhash(p.arg(params, 0, "blockhash"))
    with chain.lock:
        return with_context(chain.slot(), chain.is_blockhash_valid(blockhash))


@method("getMinimumBalanceForRentExemption")
def get_minimum_balance_for_rent_exemption(chain: SandboxChain, params: list[Json]) -> Json:
    size = p.integer(p.arg(params, 0, "data length"), "data length")
    return chain.minimum_balance_for_rent_exemption(size)


@method("getRecentPrioritizationFees")
def get_recent_prioritization_fees(chain: SandboxChain, params: list[Json]) -> Json:
    keys = p.pubkeys(params[0], limit=128) if params and params[0] is not None else []
    return [
        {"slot": slot, "prioritizationFee": fee}
        for slot, fee in chain.recent_prioritization_fees(keys)
    ]


@method("requestAirdrop")
def request_airdrop(chain: SandboxChain, params: list[Json]) -> Json:
    key = p.pubkey(p.arg(params, 0, "pubkey"))
    lamports = p.integer(p.arg(params, 1, "lamports"), "lamports", minimum=1)
    try:
        return str(chain.airdrop(key, lamports))
    except PreflightFailure as exc:
        raise RpcError(-32603, f"airdrop failed: {describe(exc.err)}") from exc


@method("sendTransaction")
def send_transaction(chain: SandboxChain, params: list[Json]) -> Json:
    cfg = p.config(params, 1)
    tx = p.transaction(p.arg(params, 0, "transaction"), cfg.get("encoding"))
    try:
        skip = p.flag(cfg, "skipPreflight")
        return str(send_routed(chain, tx, skip_preflight=skip, route="public"))
    except PreflightFailure as exc:
        raise RpcError(
            -32002,
            f"Transaction simulation failed: {describe(exc.err)}",
            {
                "err": error_json(exc.err),
                "logs": exc.logs,
                "accounts": None,
                "unitsConsumed": exc.units,
                "returnData": None,
                "innerInstructions": None,
            },
        ) from exc
    except SignatureVerificationFailure as exc:
        raise RpcError(-32003, str(exc)) from exc
    except InvalidTransaction as exc:
        raise invalid_params(f"invalid transaction: {exc}") from exc


@method("simulateTransaction")
def simulate_transaction(chain: SandboxChain, params: list[Json]) -> Json:
    cfg = p.config(params, 1)
    tx = p.transaction(p.arg(params, 0, "transaction"), cfg.get("encoding"))
    sig_verify, replace = p.flag(cfg, "sigVerify"), p.flag(cfg, "replaceRecentBlockhash")
    if sig_verify and replace:
        raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
    wanted = cfg.get("accounts")
    addresses = None
    encoding = "base64"
    if wanted is not None:
        if not isinstance(wanted, dict):
            raise invalid_params("accounts must be an object")
        addresses = p.pubkeys(wanted.get("addresses", []), limit=len(tx.message.account_keys) + 64)
        encoding = _encoding(wanted, default="base64")
        if encoding == "base58":
            raise invalid_params("base58 encoding not supported")
    with chain.lock:
        try:
            result = chain.simulate(
                tx, accounts=addresses, sig_verify=sig_verify, replace_blockhash=replace
            )
        except SignatureVerificationFailure as exc:
            raise RpcError(-32003, str(exc)) from exc
        except InvalidTransaction as exc:
            raise invalid_params(f"invalid transaction: {exc}") from exc
        accounts = None
        if addresses is not None and result.accounts is not None:
            accounts = [
                account_json(a, acct, encoding, chain.mint_decimals)
                for a, acct in zip(addresses, result.accounts, strict=True)
            ]
        replacement = None
        if replace:
            blockhash, last_valid = chain.latest_blockhash()
            replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        value = {
            "err": error_json(result.err),
            "logs": result.logs,
            "accounts": accounts,
            "unitsConsumed": result.units,
            "returnData": None,
            "innerInstructions": [] if p.flag(cfg, "innerInstructions") else None,
            "replacementBlockhash": replacement,
            "fee": result.fee,
        }
        return with_context(chain.slot(), value)


@method("getSignatureStatuses")
def get_signature_statuses(chain: SandboxChain, params: list[Json]) -> Json:
    raw = p.arg(params, 0, "signatures")
    if not isinstance(raw, list) or len(raw) > 256:
        raise invalid_params("expected an array of at most 256 signatures")
    sigs = [p.signature(s) for s in raw]
    search = p.flag(p.config(params, 1), "searchTransactionHistory")
    with chain.lock:
        statuses: list[Json] = []
        for sig in sigs:
            found = chain.signature_status(sig, search_history=search)
            if found is None or _hidden(chain, chain.get_transaction(sig)):
                statuses.append(None)
                continue
            slot, err, confirmation = found
            statuses.append(
                {
                    "slot": slot,
                    "confirmations": None,
                    "err": error_json(err),
                    "status": status_json(err),
                    "confirmationStatus": confirmation,
                }
            )
        return with_context(chain.slot(), statuses)


@method("getSignaturesForAddress")
def get_signatures_for_address(chain: SandboxChain, params: list[Json]) -> Json:
    address = p.pubkey(p.arg(params, 0, "address"))
    cfg = p.config(params, 1)
    limit = cfg.get("limit")
    limit = 1000 if limit is None else p.integer(limit, "limit", minimum=1)
    if limit > 1000:
        raise invalid_params("Invalid limit; max 1000")
    before = None if cfg.get("before") is None else p.signature(cfg["before"])
    until = None if cfg.get("until") is None else p.signature(cfg["until"])
    records = chain.signatures_for_address(address, before=before, until=until, limit=limit)
    return [signature_info_json(r) for r in records if not _hidden(chain, r)]


@method("getTransaction")
def get_transaction(chain: SandboxChain, params: list[Json]) -> Json:
    sig = p.signature(p.arg(params, 0, "signature"))
    cfg = p.config(params, 1)
    encoding = cfg.get("encoding") or "json"
    if encoding not in ("json", "jsonParsed", "base64"):
        raise invalid_params(f"unsupported encoding: {encoding}")
    max_version = cfg.get("maxSupportedTransactionVersion")
    if max_version is not None:
        p.integer(max_version, "maxSupportedTransactionVersion")
    record = chain.get_transaction(sig)
    if record is None or _hidden(chain, record):
        return None
    if record.version != "legacy" and max_version is None:
        raise RpcError(-32015, _UNSUPPORTED_VERSION)
    body = transaction_json(record)
    if encoding == "base64":
        body["transaction"] = [base64.b64encode(bytes(record.tx)).decode(), "base64"]
    if encoding == "jsonParsed":
        body = parsed_transaction_json(body, record)
    return body


# Registered by importing it; its own module because it carries its filters.
from flywheel.sandbox.rpc import program_accounts as _program_accounts  # noqa: E402, F401
