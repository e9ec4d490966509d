"""Fixtures of the end-to-end tests that drive a CSMS the way a grid operator's system does: through its REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from evscada.core.access.users import Role
from tests.support import Csms


@pytest.fixture
async def api(csms: Csms) -> AsyncIterator[httpx.AsyncClient]:
    """An operator's API client of the module's `csms`."""
    await csms.app.core.access.add_user(username="grid", role=Role.OPERATOR)
    key = await csms.app.core.access.create_api_key(username="grid", name="test")
    assert csms.app.http is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        yield client
