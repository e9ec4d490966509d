"""The API under test: a real HTTP client against the CSMS's own HTTP listener."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from evscada.core.access.users import Role
from tests.support import Csms


@pytest.fixture
async def api(csms: Csms) -> AsyncIterator[httpx.AsyncClient]:
    assert csms.app.http is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", timeout=10) as client:
        yield client


async def key_for(csms: Csms, role: Role) -> dict[str, str]:
    """Headers carrying a new API key of a new user with that role."""
    name = f"{role}-user"
    await csms.app.core.access.add_user(username=name, role=role)
    key = await csms.app.core.access.create_api_key(username=name, name="test")
    return {"Authorization": f"Bearer {key}"}
