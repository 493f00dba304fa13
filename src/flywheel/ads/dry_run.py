"""`ADS_ENGINE_MODE=dry-run`: the campaign spec goes to the log and the report, nothing else."""

from __future__ import annotations

import structlog

from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec

log = structlog.get_logger("flywheel.ads")


class DryRunAds:
    mode = "dry-run"

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome:
        log.info("ads.planned", epoch_id=epoch_id, mode=self.mode, **spec.model_dump(mode="json"))
        return AdsOutcome(status=AdsStatus.PLANNED, spec=spec)
