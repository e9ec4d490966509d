"""The on-call schedule: who is on duty at a given moment, and who comes after them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from evscada.integrations.notifications.config import WEEKDAYS, OnCall, Shift


class OnCallSchedule:
    def __init__(self, config: OnCall) -> None:
        self._config = config
        self._zone = ZoneInfo(config.time_zone)

    def on_duty(self, at: datetime) -> str | None:
        """The person on duty at `at` (aware): a shift covering it wins over the rotation; None when nobody is."""
        local = at.astimezone(self._zone).replace(tzinfo=None)
        for shift in self._config.shifts:
            if _covers(shift, local):
                return shift.person
        index = self._turn(local)
        return None if index is None else self._config.rotation[index]

    def next_after(self, at: datetime) -> str | None:
        """Who comes after the person on duty: the next in the rotation; during a shift, the rotation's own turn."""
        rotation = self._config.rotation
        current = self.on_duty(at)
        if not rotation:
            return None
        if current in rotation:
            following = rotation[(rotation.index(current) + 1) % len(rotation)]
            return None if following == current else following
        index = self._turn(at.astimezone(self._zone).replace(tzinfo=None))
        return None if index is None else rotation[index]

    def next_change(self, at: datetime, *, horizon_days: int = 14) -> tuple[datetime, str | None] | None:
        """When the duty passes from whoever has it at `at` to someone else (or to nobody), and to whom; None when
        it does not within `horizon_days`. Only shift edges and rotation handovers can change it, so only those
        moments are tried."""
        local = at.astimezone(self._zone).replace(tzinfo=None)
        current = self.on_duty(at)
        for moment in self._edges(local, horizon_days):
            aware = moment.replace(tzinfo=self._zone)
            person = self.on_duty(aware)
            if person != current:
                return aware, person
        return None

    def _edges(self, local: datetime, horizon_days: int) -> list[datetime]:
        """Every local moment after `local` and within the horizon where a shift starts or ends or a turn passes."""
        end = local + timedelta(days=horizon_days)
        edges: set[datetime] = set()
        if self._config.rotation:
            period = timedelta(days=self._config.handover_days)
            turn = self._config.rotation_start + ((local - self._config.rotation_start) // period + 1) * period
            while turn <= end:
                edges.add(turn)
                turn += period
        for shift in self._config.shifts:
            if shift.start is not None and shift.end is not None:
                edges.update((shift.start, shift.end))
                continue
            for offset in range(-1, horizon_days + 1):
                day = (local + timedelta(days=offset)).date()
                if WEEKDAYS[day.weekday()] not in shift.days:
                    continue
                begin = datetime.combine(day, shift.from_time)
                if shift.to_time is None or shift.to_time == shift.from_time:
                    finish = datetime.combine(day + timedelta(days=1), time(0, 0))
                elif shift.to_time > shift.from_time:
                    finish = datetime.combine(day, shift.to_time)
                else:
                    finish = datetime.combine(day + timedelta(days=1), shift.to_time)
                edges.update((begin, finish))
        return sorted(moment for moment in edges if local < moment <= end)

    def _turn(self, local: datetime) -> int | None:
        rotation = self._config.rotation
        if not rotation:
            return None
        period = timedelta(days=self._config.handover_days)
        turns = (local - self._config.rotation_start) // period  # floor division: before the start counts back
        return int(turns) % len(rotation)


def _covers(shift: Shift, local: datetime) -> bool:
    if shift.start is not None and shift.end is not None:
        return shift.start <= local < shift.end
    begin = shift.from_time
    end = shift.to_time
    now = local.time()
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if end is None or end == begin:  # the whole day from `from`
        return today in shift.days and now >= begin
    if begin < end:
        return today in shift.days and begin <= now < end
    # Overnight (e.g. 18:00 to 06:00): the evening belongs to today's shift, the morning to yesterday's.
    return (today in shift.days and now >= begin) or (yesterday in shift.days and now < end)
