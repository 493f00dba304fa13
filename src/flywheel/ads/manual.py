"""`ADS_ENGINE_MODE=manual` (the runbook's recommended mode): a person creates the campaign.

The spec goes to the log, the epoch report, its own file `REPORTS_DIR/ads-<epoch id>.json`, and
to the operator through the notifier. `flywheel ads mark-launched` records the campaign id once
the operator has created it (runbook scenario 5).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import structlog

from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec
from flywheel.persistence.atomic_file import write_atomic
from flywheel.ports import Notifier

log = structlog.get_logger("flywheel.ads")


def ads_file(reports_dir: Path, epoch_id: str) -> Path:
    return reports_dir / f"ads-{epoch_id}.json"


def write_ads_file(path: Path, document: dict[str, object]) -> None:
    """Atomic, like the reports (it is one: `flywheel reports prune` removes old ones)."""
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))


class ManualAds:
    mode = "manual"

    def __init__(self, reports_dir: Path, notifier: Notifier | None = None) -> None:
        self.reports_dir = reports_dir
        self.notifier = notifier

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome:
        path = ads_file(self.reports_dir, epoch_id)
        spec_json = spec.model_dump(mode="json")
        write_ads_file(
            path,
            {
                "schema_version": 1,
                "kind": "ads",
                "epoch_id": epoch_id,
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "status": AdsStatus.PENDING_OPERATOR.value,
                "campaign_id": None,
                "spec": spec_json,
            },
        )
        log.info("ads.pending_operator", epoch_id=epoch_id, file=str(path), **spec_json)
        if self.notifier is not None:
            await self.notifier.notify(
                f"X ads campaign ready for epoch {epoch_id}: ${spec.budget_usd}",
                "Create it in X Ads Manager with this spec, then run "
                f"`flywheel ads mark-launched {epoch_id} --campaign-id <ID>`:\n"
                + json.dumps(spec_json, indent=2),
            )
        return AdsOutcome(status=AdsStatus.PENDING_OPERATOR, spec=spec, detail={"file": str(path)})
