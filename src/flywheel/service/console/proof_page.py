"""The holders' proof as a document and a page: what `flywheel proof` writes and the console
serves at /proof (and /proof.json), from the same reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flywheel.config.settings import Settings
from flywheel.reports.models import EpochReport
from flywheel.reports.proof import ProofDocument, build_proof
from flywheel.service.console.explorer import tx_url
from flywheel.service.console.templating import environment, stylesheet


def proof_document(settings: Settings, reports: list[tuple[Path, EpochReport]]) -> ProofDocument:
    rpc_url, explorer = str(settings.solana_rpc_url), str(settings.explorer_url)
    return build_proof(
        reports,
        token_mint=str(settings.token_mint),
        link=lambda signature: tx_url(explorer, rpc_url, signature),
        now=datetime.now(UTC),
    )


def render_proof(document: ProofDocument, explorer: str) -> str:
    """A page that stands alone: the stylesheet is inlined, nothing is fetched."""
    template = environment().get_template("proof.html")
    return template.render(proof=document, css=stylesheet(), explorer=explorer)
