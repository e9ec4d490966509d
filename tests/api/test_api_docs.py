"""The interactive API docs at /api/docs work without internet: Swagger UI comes from the package, not a CDN."""

from __future__ import annotations

import contextlib
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import TimeoutError as PlaywrightTimeout

from evscada.api.app import SWAGGER_UI
from tests.console import conftest as console
from tests.console.conftest import base_url, screenshot
from tests.support import Csms

PACKAGE = SWAGGER_UI.parents[2]  # src/evscada
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"

chromium = console.browser  # the console tests' Chromium fixture, for this module too

# What the page links to, by the kind of file: Swagger UI's script, its stylesheet, the tab's icon.
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


def linked_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_the_docs_page_links_only_files_the_csms_itself_serves(csms_sqlite: Csms) -> None:
    async with httpx.AsyncClient(base_url=base_url(csms_sqlite), timeout=10) as client:
        page = await client.get("/api/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        urls = linked_urls(page.text)
        assert {Path(urlsplit(url).path).suffix for url in urls} == set(CONTENT_TYPES), urls
        assert "cdn" not in page.text and "https://" not in page.text
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{url} is not on this server"
            answer = await client.get(url)
            assert answer.status_code == 200, f"{url} answered {answer.status_code}"
            kind = answer.headers["content-type"].split(";")[0]
            assert kind in CONTENT_TYPES[Path(url).suffix], f"{url} came as {kind}"
        script = next(url for url in urls if url.endswith(".js"))
        assert "SwaggerUIBundle" in (await client.get(script)).text
        assert "'/api/openapi.json'" in page.text
        assert (await client.get("/api/openapi.json")).status_code == 200


def test_the_vendored_swagger_ui_is_package_data() -> None:
    """The files must be in the wheel, not only in a source checkout (tests run from an editable install)."""
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["evscada"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    vendored = {path for path in SWAGGER_UI.rglob("*") if path.is_file()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"} <= {p.name for p in vendored}
    assert vendored <= shipped, sorted(str(p) for p in vendored - shipped)


async def test_the_docs_render_the_operations_with_the_internet_blocked(csms_sqlite: Csms, chromium: Any) -> None:
    context = await chromium.new_context(base_url=base_url(csms_sqlite), viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    blocked: list[str] = []
    failed: list[str] = []

    async def only_this_host(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_this_host)
    page = await context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.on("pageerror", lambda error: failed.append(f"script error: {error}"))
    stations = page.locator('.opblock-get .opblock-summary-path[data-path="/api/v1/stations"]')
    try:
        await page.goto("/api/docs")
        with contextlib.suppress(PlaywrightTimeout):  # say below why it did not render
            await stations.wait_for()
        await screenshot(page, "api-docs-offline")
        rendered = await page.locator("#operations-tag-stations").is_visible() and await stations.is_visible()
    finally:
        await context.close()
    assert blocked == [], f"the docs asked other hosts: {blocked}"
    assert failed == [], f"requests failed: {failed}"
    assert rendered, "the docs did not list the stations tag and GET /api/v1/stations"
