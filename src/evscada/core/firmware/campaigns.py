"""Firmware campaigns: an image rolled out over a set of stations, a pilot batch first and then batches, each batch
only once the previous one's stations have installed or failed, new installs only inside the maintenance window,
halted automatically when failures pass the threshold. Everything lives in the database: after a restart the runner
picks up where it was."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from evscada.core.access.audit import Auditor
from evscada.core.errors import DomainError, FirmwareConflict, InvalidArgument, NotFound
from evscada.core.firmware.model import (
    Campaign,
    CampaignPlan,
    CampaignStatus,
    CampaignTarget,
    TargetState,
    UpdateStatus,
)
from evscada.core.firmware.service import FirmwareService, FirmwareUnit
from evscada.core.model import StationId
from evscada.core.ports import Clock, Store

log = logging.getLogger(__name__)

RUNNER = "firmware-campaign"  # the actor the runner's commands and audit entries name
MAX_TARGETS = 10_000


class CampaignService:
    def __init__(
        self,
        *,
        store: Store[FirmwareUnit],
        clock: Clock,
        firmware: FirmwareService,
        zone: ZoneInfo,
        audit: Auditor | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._firmware = firmware
        self.zone = zone
        self._audit = audit or Auditor(clock=clock)
        self._lock = asyncio.Lock()  # one step at a time (the loop and an operator's start/resume)

    # Operators

    async def create(self, *, plan: CampaignPlan, actor: str) -> Campaign:
        """A draft campaign with its stations chosen and put in batches now (the set does not drift later)."""
        image = await self._firmware.image(plan.image_id)
        if plan.signed and not image.signed:
            raise InvalidArgument(
                f"firmware image {image.id} has no signing certificate and signature for a signed campaign",
                field="signed",
            )
        if plan.pilot_size < 0 or plan.batch_size < 1:
            raise InvalidArgument("pilot_size must be 0 or more and batch_size 1 or more", field="batch_size")
        async with self._store.unit() as uow:
            stations = await uow.firmware.select_stations(selection=plan.selection)
            if not stations:
                raise InvalidArgument(
                    "no station matches the campaign's target (site, model, vendor, firmware version, station ids)",
                    field="target",
                )
            if len(stations) > MAX_TARGETS:
                raise InvalidArgument(f"the target holds {len(stations)} stations; at most {MAX_TARGETS}")
            campaign_id = await uow.firmware.add_campaign(plan=plan, created_by=actor, at=self._clock.now())
            await uow.firmware.add_targets(campaign_id=campaign_id, batches=_batches(stations, plan))
            await self._audit.record(
                uow,
                actor=actor,
                action="firmware.campaign.create",
                target_type="firmware_campaign",
                target_id=campaign_id,
                details={"name": plan.name, "image_id": plan.image_id, "stations": len(stations)},
            )
        return await self.campaign(campaign_id)

    async def campaign(self, campaign_id: int) -> Campaign:
        async with self._store.unit() as uow:
            found = await uow.firmware.campaign(campaign_id=campaign_id)
        if found is None:
            raise NotFound(f"no firmware campaign {campaign_id}")
        return found

    async def campaigns(self) -> list[Campaign]:
        async with self._store.unit() as uow:
            return await uow.firmware.campaigns()

    async def targets(self, campaign_id: int) -> list[CampaignTarget]:
        await self.campaign(campaign_id)
        async with self._store.unit() as uow:
            return await uow.firmware.targets(campaign_id=campaign_id)

    async def start(self, campaign_id: int, *, actor: str) -> Campaign:
        return await self._move(campaign_id, actor, "start", {CampaignStatus.DRAFT}, CampaignStatus.RUNNING)

    async def halt(self, campaign_id: int, *, actor: str, reason: str | None = None) -> Campaign:
        """No new station starts; those installing finish on their own."""
        return await self._move(
            campaign_id, actor, "halt", {CampaignStatus.RUNNING}, CampaignStatus.HALTED, reason or f"halted by {actor}"
        )

    async def resume(self, campaign_id: int, *, actor: str, retry_failed: bool = False) -> Campaign:
        """Go on; the failure threshold counts failures from now. retry_failed: failed stations get another try
        in a batch of their own after the others."""
        async with self._lock:
            campaign = await self.campaign(campaign_id)
            if campaign.status is not CampaignStatus.HALTED:
                raise FirmwareConflict(f"campaign {campaign_id} is {campaign.status}: only a halted campaign resumes")
            now = self._clock.now()
            async with self._store.unit() as uow:
                targets = await uow.firmware.targets(campaign_id=campaign_id)
                failed = [t for t in targets if t.state is TargetState.FAILED]
                if retry_failed:
                    retry_batch = max(t.batch for t in targets) + 1
                    for target in failed:
                        await uow.firmware.set_target(
                            campaign_id=campaign_id,
                            station_id=target.station_id,
                            state=TargetState.PENDING,
                            at=now,
                            detail=f"retry after: {target.detail}",
                            batch=retry_batch,
                        )
                await uow.firmware.set_campaign_status(
                    campaign_id=campaign_id,
                    status=CampaignStatus.RUNNING,
                    reason=None,
                    at=now,
                    forgiven=0 if retry_failed else len(failed),
                )
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="firmware.campaign.resume",
                    target_type="firmware_campaign",
                    target_id=campaign_id,
                    details={"retry_failed": retry_failed, "failed": len(failed)},
                )
        return await self.campaign(campaign_id)

    async def abort(self, campaign_id: int, *, actor: str) -> Campaign:
        """Final: stations not started are skipped (those installing finish on their own)."""
        async with self._lock:
            campaign = await self.campaign(campaign_id)
            if campaign.status in (CampaignStatus.ABORTED, CampaignStatus.COMPLETED):
                raise FirmwareConflict(f"campaign {campaign_id} is {campaign.status} already")
            now = self._clock.now()
            async with self._store.unit() as uow:
                for target in await uow.firmware.targets(campaign_id=campaign_id):
                    if target.state is TargetState.PENDING:
                        await uow.firmware.set_target(
                            campaign_id=campaign_id,
                            station_id=target.station_id,
                            state=TargetState.SKIPPED,
                            at=now,
                            detail=f"aborted by {actor}",
                        )
                await uow.firmware.set_campaign_status(
                    campaign_id=campaign_id, status=CampaignStatus.ABORTED, reason=f"aborted by {actor}", at=now
                )
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="firmware.campaign.abort",
                    target_type="firmware_campaign",
                    target_id=campaign_id,
                )
        return await self.campaign(campaign_id)

    async def _move(  # noqa: PLR0917  # verb and states read best in order
        self,
        campaign_id: int,
        actor: str,
        verb: str,
        allowed: set[CampaignStatus],
        to: CampaignStatus,
        reason: str | None = None,
    ) -> Campaign:
        async with self._lock:
            campaign = await self.campaign(campaign_id)
            if campaign.status not in allowed:
                raise FirmwareConflict(
                    f"campaign {campaign_id} is {campaign.status}: {verb} needs it "
                    f"{' or '.join(sorted(str(s) for s in allowed))}"
                )
            async with self._store.unit() as uow:
                await uow.firmware.set_campaign_status(
                    campaign_id=campaign_id, status=to, reason=reason, at=self._clock.now()
                )
                await self._audit.record(
                    uow,
                    actor=actor,
                    action=f"firmware.campaign.{verb}",
                    target_type="firmware_campaign",
                    target_id=campaign_id,
                )
        if to is CampaignStatus.RUNNING:
            await self.step(campaign_id)  # the first batch goes now, not at the runner's next turn
        return await self.campaign(campaign_id)

    # The runner

    def in_window(self, campaign: Campaign, at: datetime | None = None) -> bool:
        window = campaign.plan.window
        if window is None:
            return True
        local = (at or self._clock.now()).astimezone(self.zone).time().replace(tzinfo=None)
        return window.contains(local)

    async def step(self, campaign_id: int) -> None:
        """One turn: settle the stations under way; then, if running, halt, finish, or start the next batch."""
        async with self._lock:
            await self._step(campaign_id)

    async def _step(self, campaign_id: int) -> None:
        campaign = await self.campaign(campaign_id)
        if campaign.status is CampaignStatus.DRAFT:
            return
        now = self._clock.now()
        async with self._store.unit() as uow:
            targets = await uow.firmware.targets(campaign_id=campaign_id)
            for target in targets:
                if target.state is not TargetState.IN_PROGRESS or target.update_id is None:
                    continue
                update = await uow.firmware.update(update_id=target.update_id)
                if update is None:
                    continue
                state, detail = _settled(update.status, update.station_status)
                if (
                    state is None
                    and target.started_at
                    and now - target.started_at > self._firmware.config.station_timeout
                ):
                    state, detail = TargetState.FAILED, "no final status in time (firmware.station_timeout_seconds)"
                if state is not None:
                    await uow.firmware.set_target(
                        campaign_id=campaign_id, station_id=target.station_id, state=state, at=now, detail=detail
                    )
            targets = await uow.firmware.targets(campaign_id=campaign_id)
        if campaign.status is not CampaignStatus.RUNNING:
            return  # halted or aborted: the stations under way are settled, nothing more happens
        failed = sum(t.state is TargetState.FAILED for t in targets) - campaign.forgiven_failures
        started = sum(t.state is not TargetState.PENDING for t in targets)
        breach = _breach(campaign.plan, failed, started)
        if breach is not None:
            async with self._store.unit() as uow:
                await uow.firmware.set_campaign_status(
                    campaign_id=campaign_id, status=CampaignStatus.HALTED, reason=breach, at=now
                )
            log.warning("firmware campaign %d halted: %s", campaign_id, breach)
            return
        if any(t.state is TargetState.IN_PROGRESS for t in targets):
            return  # the batch is still under way
        pending = [t for t in targets if t.state is TargetState.PENDING]
        if not pending:
            async with self._store.unit() as uow:
                await uow.firmware.set_campaign_status(
                    campaign_id=campaign_id, status=CampaignStatus.COMPLETED, reason=None, at=now
                )
            log.info("firmware campaign %d completed", campaign_id)
            return
        if not self.in_window(campaign, now):
            return
        batch = min(t.batch for t in pending)
        for target in (t for t in pending if t.batch == batch):
            await self._start_station(campaign, target)

    async def _start_station(self, campaign: Campaign, target: CampaignTarget) -> None:
        plan = campaign.plan
        now = self._clock.now()
        try:
            outcome = await self._firmware.update_station(
                station_id=target.station_id,
                image_id=plan.image_id,
                actor=RUNNER,
                signed=plan.signed,
                retries=plan.retries,
                retry_interval_s=plan.retry_interval_s,
                campaign_id=campaign.id,
                reason=f"campaign {campaign.id}: {plan.name}",
            )
        except DomainError as exc:
            async with self._store.unit() as uow:
                await uow.firmware.set_target(
                    campaign_id=campaign.id,
                    station_id=target.station_id,
                    state=TargetState.FAILED,
                    at=now,
                    detail=exc.message,
                )
            return
        update = outcome.update
        state, detail = _settled(update.status, update.station_status)
        if update.status in (UpdateStatus.NOT_SENT, UpdateStatus.REJECTED):
            detail = outcome.command.error or outcome.command.status or str(update.status)
        async with self._store.unit() as uow:
            await uow.firmware.set_target(
                campaign_id=campaign.id,
                station_id=target.station_id,
                state=state or TargetState.IN_PROGRESS,
                at=now,
                detail=detail,
                update_id=update.id,
            )

    async def run_once(self) -> None:
        async with self._store.unit() as uow:
            active = await uow.firmware.active_campaigns()
        for campaign_id in active:
            try:
                await self.step(campaign_id)
            except Exception:
                log.exception("firmware campaign %d: a step failed; trying again next turn", campaign_id)

    async def keep_running(self, interval: float) -> None:
        """The loop app.py runs: every running campaign takes a step each interval (state is in the database)."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("firmware campaigns: a turn failed; trying again in %.0f s", interval)
            await asyncio.sleep(interval)


def _batches(stations: list[StationId], plan: CampaignPlan) -> list[tuple[StationId, int]]:
    """Pilot first (batch 0, when pilot_size > 0), then batches of batch_size, in station id order."""
    ordered = sorted(stations)
    batches: list[tuple[StationId, int]] = []
    pilot = ordered[: plan.pilot_size]
    for station_id in pilot:
        batches.append((station_id, 0))
    first = 1 if pilot else 0
    for index, station_id in enumerate(ordered[len(pilot) :]):
        batches.append((station_id, first + index // plan.batch_size))
    return batches


def _settled(status: UpdateStatus, word: str | None) -> tuple[TargetState | None, str | None]:
    if status is UpdateStatus.INSTALLED:
        return TargetState.INSTALLED, word
    if status in (UpdateStatus.FAILED, UpdateStatus.REJECTED, UpdateStatus.NOT_SENT):
        return TargetState.FAILED, word or str(status)
    return None, word


def _breach(plan: CampaignPlan, failed: int, started: int) -> str | None:
    if plan.max_failures is not None and failed > plan.max_failures:
        return f"{failed} stations failed, more than the {plan.max_failures} allowed"
    if plan.max_failure_percent is not None and started and failed * 100 / started > plan.max_failure_percent:
        return (
            f"{failed} of {started} stations started failed ({failed * 100 / started:.0f} %), more than the "
            f"{plan.max_failure_percent:g} % allowed"
        )
    return None
