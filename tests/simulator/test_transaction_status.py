"""2.0.1 GetTransactionStatus: a simulated station says whether a transaction is ongoing and whether it still owes
messages of it (those queued while it was offline)."""

from __future__ import annotations

import pytest

from evscada.simulator.station import StationSpec
from evscada.simulator.uplink import Uplink
from tests.simulator.helpers import raw_call, remote_start, running_transaction, send
from tests.support import Csms


@pytest.mark.parametrize("version", ["2.0.1"])
async def test_a_running_transaction_is_ongoing_with_nothing_owed_and_an_unknown_one_is_not(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    assert (await send(csms_sqlite, remote_start())).status == "Accepted"
    tx = await running_transaction(csms_sqlite)

    known = await raw_call(csms_sqlite, "GetTransactionStatus", {"transactionId": tx["station_transaction_id"]})
    unknown = await raw_call(csms_sqlite, "GetTransactionStatus", {"transactionId": "no-such-transaction"})
    overall = await raw_call(csms_sqlite, "GetTransactionStatus", {})

    assert known == {"messagesInQueue": False, "ongoingIndicator": True}
    assert unknown == {"messagesInQueue": False, "ongoingIndicator": False}
    assert overall == {"messagesInQueue": False}


async def test_messages_queued_offline_are_owed_for_their_transaction_only() -> None:
    uplink = Uplink(None, station_id="OFFLINE")  # no link: what the station must send is queued

    async def never_sent(_: object) -> None:
        raise AssertionError("nothing is sent while offline")

    await uplink.keep(never_sent)  # a fault event: no transaction
    assert uplink.owes() is False  # only transaction messages count

    await uplink.keep(never_sent, transaction="T-1")

    assert (uplink.owes("T-1"), uplink.owes("T-2"), uplink.owes()) == (True, False, True)
