"""`flywheel proof --out DIR` (a static page and JSON for holders) and `flywheel audit`
(every signature the reports name, re-read from the RPC and checked)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction_status import EncodedConfirmedTransactionWithStatusMeta

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.config.settings import Settings
from flywheel.errors import OperationalError
from flywheel.persistence.atomic_file import write_atomic
from flywheel.reports.audit import ChainTx, audit, claimed_signatures
from flywheel.reports.proof import load_epoch_reports
from flywheel.service.console.proof_page import proof_document, render_proof
from flywheel.solana.sender import landing_from_transaction

BATCH = 50  # signatures per getTransaction batch


def register(app: typer.Typer) -> None:
    app.command("proof")(proof)
    app.command("audit")(audit_command)


def proof(
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Directory for index.html and proof.json.")
    ],
    env_file: EnvFile = None,
) -> None:
    """Write index.html and proof.json: every buy and burn the reports claim, with signature,
    amounts, realized price and totals. From the reports alone; opens offline."""
    settings = load_settings(env_file)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a directory", param_hint="'--out'")
    document = proof_document(settings, load_epoch_reports(settings.reports_dir))
    out.mkdir(parents=True, exist_ok=True)
    body = document.model_dump_json(indent=2) + "\n"
    write_atomic(out / "proof.json", body.encode("utf-8"), mode=0o644)
    page = render_proof(document, str(settings.explorer_url))
    write_atomic(out / "index.html", page.encode("utf-8"), mode=0o644)
    totals = document.totals
    console().print(
        f"{totals.epochs} epoch(s): spent {totals.spent_lamports} lamports, bought "
        f"{totals.tokens_bought}, burned {totals.tokens_burned}; written to "
        f"{out / 'index.html'} and {out / 'proof.json'}"
    )


def chain_tx(
    signature: str, found: EncodedConfirmedTransactionWithStatusMeta, executor: Pubkey, mint: Pubkey
) -> ChainTx:
    """The facts the audit compares, read from a transaction's own status metadata."""
    landing = landing_from_transaction(signature, found, executor=executor, mint=mint)
    meta = found.transaction.meta
    assert meta is not None  # landing_from_transaction refuses a transaction without one

    def total(balances: object) -> int:
        entries = balances if isinstance(balances, list) else []
        return sum(int(e.ui_token_amount.amount) for e in entries if e.mint == mint)

    return ChainTx(
        ok=not landing.error,
        fee_lamports=landing.fee_lamports,
        sol_delta=landing.sol_delta,
        token_delta=landing.token_delta,
        mint_net_change=total(meta.post_token_balances) - total(meta.pre_token_balances),
    )


async def read_chain(
    settings: Settings, signatures: list[str]
) -> tuple[dict[str, ChainTx | None], int]:
    executor, mint = settings.executor_pubkey(), settings.token_mint
    found: dict[str, ChainTx | None] = {}
    from flywheel.compose import rpc_client

    rpc = rpc_client(settings)
    try:
        unique = list(dict.fromkeys(signatures))
        for start in range(0, len(unique), BATCH):
            chunk = unique[start : start + BATCH]
            answers = await rpc.get_transactions([Signature.from_string(s) for s in chunk])
            for signature, answer in zip(chunk, answers, strict=True):
                found[signature] = (
                    None if answer is None else chain_tx(signature, answer, executor, mint)
                )
        supply = await rpc.get_token_supply(mint)
    finally:
        await rpc.close()
    return found, supply


def _is_signature(text: str) -> bool:
    try:
        Signature.from_string(text)
    except ValueError:
        return False
    return True


def audit_command(
    supply_before: Annotated[
        int | None,
        typer.Option(
            "--supply-before",
            min=0,
            help="The token supply (base units) before the first burn: the supply must have "
            "dropped by exactly the sum of the reported burns.",
        ),
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Re-read every signature the reports name from the RPC: reported deltas, burns against
    the supply, no signature claimed twice. Exit 1 naming each report that does not match."""
    settings = load_settings(env_file)
    try:
        reports = load_epoch_reports(settings.reports_dir)
    except OperationalError as exc:
        raise OperationalError(f"audit failed: {exc}") from None
    for path, report in reports:
        for signature in claimed_signatures([(path, report)]):
            if not _is_signature(signature):
                raise OperationalError(
                    f"audit failed: {path.name}: {signature!r} is not a transaction signature"
                )
    chain, supply_now = asyncio.run(read_chain(settings, claimed_signatures(reports)))
    result = audit(reports, chain, supply_before=supply_before, supply_now=supply_now)
    out = console()
    for mismatch in result.mismatches:
        out.print(f"MISMATCH {mismatch}", style="red", highlight=False)
    summary = (
        f"{result.reports} report(s), {result.transactions} transaction(s), "
        f"{result.tokens_burned} tokens burned; supply now {supply_now}"
    )
    if supply_before is None:
        summary += " (no --supply-before: each burn was checked against its own transaction)"
    if result.mismatches:
        out.print(f"audit failed: {len(result.mismatches)} mismatch(es); {summary}")
        raise typer.Exit(1)
    out.print(f"audit passed: {summary}")
