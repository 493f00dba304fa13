"""The proof for holders: every buy and burn the epoch reports claim, with totals.

Built from the report files alone (no network), so it can be published as a static page and
checked by anyone against the chain; `flywheel audit` does that check. Only transactions the
reports call confirmed are listed: a failed swap paid a fee and bought nothing.

    proof.json  {"kind": "proof", "epochs": [...], "totals": {...}}  (money as integers)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from flywheel.domain.epoch_state import EpochMode
from flywheel.errors import OperationalError
from flywheel.reports.common import (
    SCHEMA_VERSION,
    DecimalText,
    ReportSection,
    UtcDatetime,
    realized_price,
)
from flywheel.reports.files import list_reports, load_report
from flywheel.reports.models import EpochReport

TxLink = Callable[[str], str]


class ProofTx(ReportSection):
    kind: str = Field(description="swap | burn | transfer")
    signature: str
    url: str = Field(description="The transaction on the block explorer")
    sol_delta: int = Field(description="Executor's SOL change, fees included (lamports)")
    token_delta: int = Field(description="Executor's token change (base units)")
    fee_lamports: int


class ProofEpoch(ReportSection):
    epoch_id: str
    report: str = Field(description="The report file this entry comes from")
    finished_at: UtcDatetime
    spent_lamports: int
    tokens_bought: int
    realized_price_lamports_per_token: DecimalText | None
    destination: str = Field(description="burn | hold | treasury")
    tokens_settled: int
    transactions: list[ProofTx]


class ProofTotals(ReportSection):
    epochs: int
    spent_lamports: int
    tokens_bought: int
    tokens_burned: int
    tokens_held: int
    tokens_sent_to_treasury: int
    average_price_lamports_per_token: DecimalText | None


class ProofDocument(ReportSection):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["proof"] = "proof"
    generated_at: UtcDatetime
    token_mint: str
    epochs: list[ProofEpoch] = Field(description="Oldest first; epochs that bought or settled")
    totals: ProofTotals


def load_epoch_reports(directory: Path) -> list[tuple[Path, EpochReport]]:
    """The live epoch reports of `directory`, oldest first; a file that does not read as a
    report is an error naming it (a proof must not silently skip a claim)."""
    found: list[tuple[Path, EpochReport]] = []
    for path in reversed(list_reports(directory, "epoch")):
        try:
            report = load_report(path)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'report'}: {e['msg']}" for e in exc.errors()
            )
            raise OperationalError(
                f"report {path.name} is not a valid report: {problems}"
            ) from None
        except (OSError, ValueError) as exc:
            raise OperationalError(f"report {path.name} cannot be read: {exc}") from None
        if isinstance(report, EpochReport) and report.mode is EpochMode.LIVE:
            found.append((path, report))
    return found


def proof_epoch(path: Path, report: EpochReport, link: TxLink) -> ProofEpoch | None:
    buyback = report.execution.buyback
    confirmed = [t for t in buyback.transactions if t.status == "confirmed"]
    settlement = buyback.settlement
    settled = settlement.tokens if settlement is not None else 0
    if not confirmed and buyback.spent_lamports == 0 and settled == 0:
        return None
    return ProofEpoch(
        epoch_id=report.epoch_id,
        report=path.name,
        finished_at=report.finished_at,
        spent_lamports=buyback.spent_lamports,
        tokens_bought=buyback.tokens_bought,
        realized_price_lamports_per_token=buyback.realized_price_lamports_per_token,
        destination=settlement.destination if settlement is not None else "burn",
        tokens_settled=settled,
        transactions=[
            ProofTx(
                kind=t.kind,
                signature=t.signature,
                url=link(t.signature),
                sol_delta=t.sol_delta,
                token_delta=t.token_delta,
                fee_lamports=t.fee_lamports,
            )
            for t in confirmed
        ],
    )


def build_proof(
    reports: list[tuple[Path, EpochReport]], *, token_mint: str, link: TxLink, now: datetime
) -> ProofDocument:
    epochs = [e for e in (proof_epoch(p, r, link) for p, r in reports) if e is not None]
    spent = sum(e.spent_lamports for e in epochs)
    bought = sum(e.tokens_bought for e in epochs)

    def settled(destination: str) -> int:
        return sum(e.tokens_settled for e in epochs if e.destination == destination)

    return ProofDocument(
        generated_at=now,
        token_mint=token_mint,
        epochs=epochs,
        totals=ProofTotals(
            epochs=len(epochs),
            spent_lamports=spent,
            tokens_bought=bought,
            tokens_burned=settled("burn"),
            tokens_held=settled("hold"),
            tokens_sent_to_treasury=settled("treasury"),
            average_price_lamports_per_token=realized_price(spent, bought),
        ),
    )
