"""The bridges' pieces without a broker or client: the backlog's bound, the topic levels, the settings' checks."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from evscada.app import Application
from evscada.core.control import commands as c
from evscada.integrations.bridge.backlog import Backlog
from evscada.integrations.bridge.commands import CommandRefused, parse
from evscada.integrations.mqtt.settings import MqttSettings
from evscada.integrations.mqtt.topics import Topics, segment, station_base, unsegment
from evscada.integrations.opcua.settings import OpcUaSettings
from tests.conftest import test_settings


async def test_a_full_backlog_drops_its_oldest_and_raises_once_per_episode() -> None:
    overflows: list[int] = []
    backlog: Backlog[int] = Backlog(3, on_overflow=lambda: overflows.append(1))
    for item in range(6):
        backlog.put(item)
    assert (len(backlog), backlog.dropped, overflows) == (3, 3, [1])
    assert [await backlog.get() for _ in range(3)] == [3, 4, 5]  # the newest kept, in order
    backlog.put(6)
    backlog.put(7)
    backlog.put(8)
    backlog.put(9)  # emptied since: a new episode, a new alarm
    assert overflows == [1, 1]
    backlog.push_front(99)  # full: the item put back is the oldest, so it is the one dropped
    assert (len(backlog), backlog.dropped) == (3, 5)
    waiting = asyncio.create_task(Backlog(1, on_overflow=lambda: None).get())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # get() waits for an item, it never spins
    waiting.cancel()


async def test_after_a_drop_the_whole_state_is_due_once_when_the_backlog_empties() -> None:
    backlog: Backlog[int] = Backlog(2, on_overflow=lambda: None)
    backlog.put_all([1, 2])
    assert not backlog.resync_due()  # nothing lost
    backlog.put_all([3, 4])
    assert await backlog.get() == 3
    assert not backlog.resync_due()  # lost something, but not empty yet
    assert await backlog.get() == 4
    assert backlog.resync_due() and not backlog.resync_due()  # due once


def test_station_ids_become_single_topic_levels_and_back() -> None:
    for station_id in ("CP-1", "a/b", "x+y#z", "100%"):
        level = segment(station_id)
        assert "/" not in level and "+" not in level and "#" not in level
        assert unsegment(level) == station_id
    assert station_base("evscada", "CP/1", None) == "evscada/station/CP%2F1"
    assert station_base("evscada", "CP-1", 7) == "evscada/site/7/station/CP-1"
    topics = Topics(MqttSettings(topic_prefix="acme/ev"))
    assert topics.command_of("acme/ev/command/CP%2F1/reset") == ("CP/1", "reset")
    assert topics.command_of("acme/ev/station/CP-1/state") is None
    assert topics.command_of("other/command/CP-1/reset") is None


def test_commands_are_checked_before_anything_is_sent() -> None:
    allowed = frozenset({"remote_start", "reset"})
    command, _ = parse("remote_start", {"id_token": "CARD-1", "evse_id": 2}, allowed=allowed)
    assert isinstance(command, c.RemoteStart) and command.evse_id == 2
    with pytest.raises(CommandRefused, match=r"not allowed.*command_actions"):
        parse("remote_stop", {"transaction_id": "T"}, allowed=allowed)
    with pytest.raises(CommandRefused, match="unknown action 'explode'"):
        parse("explode", {}, allowed=allowed)
    with pytest.raises(CommandRefused, match="bad reset body: kind"):
        parse("reset", {"kind": "gentle"}, allowed=allowed)
    with pytest.raises(CommandRefused, match="volume"):
        parse("reset", {"volume": 11}, allowed=allowed)  # an unknown field is an error, not ignored


def test_bad_bridge_settings_say_what_to_fix() -> None:
    with pytest.raises(ValidationError, match="unknown command action"):
        MqttSettings(command_actions=["remote_start", "self_destruct"])
    with pytest.raises(ValidationError, match="must not hold"):
        MqttSettings(topic_prefix="evscada/#")
    with pytest.raises(ValidationError, match="set together"):
        OpcUaSettings(certificate_file="server.der")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="each username once"):
        OpcUaSettings(users=[{"username": "a", "password": "12345678"}] * 2)  # type: ignore[list-item]
    assert not MqttSettings().enabled and not OpcUaSettings().enabled  # both off by default


async def test_a_csms_runs_no_bridge_unless_its_settings_switch_one_on(sqlite_url: str) -> None:
    app = Application(test_settings(sqlite_url))
    assert app.bridges() == []
    await app.database.close()
    on = Application(test_settings(sqlite_url, mqtt={"enabled": True}, opcua={"enabled": True}))
    assert [type(bridge).__name__ for bridge in on.bridges()] == ["MqttBridge", "OpcUaBridge"]
    await on.database.close()
