"""Who hears about an alarm, over which channels: routes by priority and site, groups, the on-call person."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evscada.integrations.notifications.config import (
    CHANNELS,
    ON_CALL,
    ON_CALL_NEXT,
    Channel,
    NotificationSettings,
    Person,
)
from evscada.integrations.notifications.schedule import OnCallSchedule

Recipients = dict[str, set[Channel]]  # person name -> channels


class Router:
    def __init__(self, config: NotificationSettings) -> None:
        self._config = config
        self._people = {p.name: p for p in config.people}
        self._groups = {g.name: g.members for g in config.groups}
        self.schedule = OnCallSchedule(config.on_call)

    def person(self, name: str) -> Person | None:
        return self._people.get(name)

    def channels_of(self, person: Person) -> list[Channel]:
        """The person's channels that can work: e-mail needs SMTP settings, SMS the gateway's."""
        usable = []
        for channel in person.channels():
            if (channel == "email" and self._config.smtp is None) or (channel == "sms" and self._config.sms is None):
                continue
            usable.append(channel)
        return usable

    @staticmethod
    def address(person: Person, channel: Channel) -> str:
        value = {"email": person.email, "webhook": person.webhook, "sms": person.phone}[channel]
        assert value is not None  # channels_of only offers channels the person has
        return value

    def for_alarm(self, facts: dict[str, Any], at: datetime) -> Recipients:
        """Everyone whose route matches the alarm's priority and site, with the channels those routes allow."""
        found: Recipients = {}
        for route in self._config.routes:
            if route.priorities and facts["priority"] not in route.priorities:
                continue
            if route.sites and not any(_same_site(s, facts) for s in route.sites):
                continue
            _merge(found, self.expand(route.to, at, route.channels))
        return found

    def expand(self, targets: list[str], at: datetime, channels: list[Channel] | None = None) -> Recipients:
        """Names, groups and on-call entries turned into people and their usable channels."""
        allowed = set(channels or CHANNELS)
        found: Recipients = {}
        for target in targets:
            for name in self._names(target, at):
                person = self._people[name]
                usable = {c for c in self.channels_of(person) if c in allowed}
                if usable:
                    found.setdefault(name, set()).update(usable)
        return found

    def _names(self, target: str, at: datetime) -> list[str]:
        if target == ON_CALL:
            on_duty = self.schedule.on_duty(at)
            return [on_duty] if on_duty else []
        if target == ON_CALL_NEXT:
            following = self.schedule.next_after(at)
            return [following] if following else []
        if target in self._groups:
            return list(self._groups[target])
        return [target]


def _same_site(site: int | str, facts: dict[str, Any]) -> bool:
    if isinstance(site, int):
        return facts.get("site_id") == site
    return facts.get("site_name") == site


def _merge(into: Recipients, more: Recipients) -> None:
    for name, channels in more.items():
        into.setdefault(name, set()).update(channels)
