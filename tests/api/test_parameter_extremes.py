"""Every route of the OpenAPI document, given out-of-range ids, offsets, times or text with NUL in its path, query or
body, answers 422: never a 500 from a value the database cannot hold."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from evscada.core.access.users import Role
from evscada.security.certificates import make_dev_certificate
from tests.api.conftest import key_for
from tests.support import Csms

# What a careless or hostile client sends, by the parameter's type and format.
BAD_VALUES: dict[str, tuple[str, ...]] = {
    "integer": (str(2**64), str(2**63), "-1"),
    "date-time": ("2026-12-06", "0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"),
    "string": ("\u0000", "a\u0000b"),
}
# Valid values for the parameters not under test, so the request would reach the handler.
GOOD_VALUES = {"integer": "1", "date-time": "2026-12-06T00:00:00Z", "string": "CP-1"}
# A certificate in PEM, for the bodies that check one parses.
PEM = make_dev_certificate(Path(tempfile.mkdtemp(prefix="evscada-pem-")), ["CP-1"]).cert_file.read_text()
# Bodies whose rules the schema does not show (a validator), so the walk's own example would be refused anyway.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/webhooks"): {"url": "http://127.0.0.1:9/hook", "events": ["transaction.*"]},
    ("POST", "/api/v1/alarms/{alarm_id}/shelve"): {"reason": "x", "minutes": 5},
    ("POST", "/api/v1/alarms/acknowledge"): {"all": True},
    ("POST", "/api/v1/sites/{site_id}/curtailment"): {"max_kw": 50, "until": "2099-01-01T00:00:00Z"},
    ("POST", "/api/v1/firmware/campaigns"): {"name": "x", "image_id": 1, "target": {"model": "x"}},
    ("POST", "/api/v1/stations/{station_id}/certificates/signed"): {"certificate_chain": PEM},
    ("POST", "/api/v1/stations/{station_id}/certificates/install"): {
        "certificate_type": "CentralSystemRootCertificate",
        "certificate": PEM,
    },
    ("POST", "/api/v1/stations/{station_id}/certificates/delete"): {
        "issuer_name_hash": "ab",
        "issuer_key_hash": "ab",
        "serial_number": "01",
    },
}


def _schema_of(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: $ref resolved, the non-null branch of `X | None`."""
    if "$ref" in schema:
        return _schema_of(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for branch in schema.get("anyOf", ()):
        if branch.get("type") != "null":
            return _schema_of(branch, components)
    return schema


def _kind(schema: dict[str, Any], components: dict[str, Any]) -> str:
    schema = _schema_of(schema, components)
    if schema.get("type") == "array":
        schema = _schema_of(schema["items"], components)
    if schema.get("format") == "date-time":
        return "date-time"
    return "integer" if schema.get("type") == "integer" else "string"


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A valid value for a request body schema: required fields only, each the smallest the schema allows."""
    schema = _schema_of(schema, components)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    match schema.get("type"):
        case "object":
            properties = schema.get("properties", {})
            return {name: _example(properties[name], components) for name in schema.get("required", ())}
        case "array":
            return []
        case "integer" | "number":
            return max(1, schema.get("minimum", 1))
        case "boolean":
            return True
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    if schema.get("format") == "uri":
        return "http://127.0.0.1:9/hook"
    return "x" * max(1, schema.get("minLength", 1))


def _requests(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], Any, str]]:
    """(method, path, query, body, what) for every parameter of every operation and each bad value of its kind."""
    components = document["components"]["schemas"]
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body = _body(method.upper(), template, body_schema, components)
            for tested in parameters:
                for bad in BAD_VALUES[_kind(tested["schema"], components)]:
                    path, query = template, {}
                    for p in parameters:
                        value = bad if p is tested else GOOD_VALUES[_kind(p["schema"], components)]
                        if p["in"] == "path":
                            path = path.replace("{" + p["name"] + "}", quote(value, safe=""))
                        elif p is tested:
                            query[p["name"]] = value
                    yield method.upper(), path, query, body, f"{method.upper()} {template} {tested['name']}={bad!r}"
            if body_schema:
                yield from _body_requests(method.upper(), template, parameters, body_schema["schema"], components)


def _body(method: str, template: str, body_schema: dict[str, Any], components: dict[str, Any]) -> Any:
    if not body_schema:
        return None
    return BODIES.get((method, template)) or _example(body_schema["schema"], components)


def _good_path(template: str, parameters: list[dict[str, Any]], components: dict[str, Any]) -> str:
    for p in parameters:
        if p["in"] == "path":
            template = template.replace("{" + p["name"] + "}", GOOD_VALUES[_kind(p["schema"], components)])
    return template


def _body_requests(
    method: str, template: str, parameters: list[dict[str, Any]], schema: dict[str, Any], components: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any], Any, str]]:
    """The same for each top-level field of a JSON body, the other fields valid."""
    path = _good_path(template, parameters, components)
    body = _body(method, template, {"schema": schema}, components)
    for name, field in _schema_of(schema, components).get("properties", {}).items():
        if _kind(field, components) == "string" and "enum" in _schema_of(field, components):
            continue  # nothing out of range to try: the enum is the range
        for bad in BAD_VALUES[_kind(field, components)]:
            value: Any = int(bad) if _kind(field, components) == "integer" else bad
            yield method, path, {}, {**body, name: value}, f"{method} {template} body {name}={bad!r}"


async def test_every_route_refuses_out_of_range_parameters_with_422(csms: Csms) -> None:
    assert csms.app.http is not None
    admin = await key_for(csms, Role.ADMIN)
    await csms.add_station("CP-1")
    base = f"http://127.0.0.1:{csms.app.http.port}"
    failures = []
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=10) as client:
        document = (await client.get("/api/openapi.json")).json()
        for method, path, query, body, what in _requests(document):
            request = client.build_request(method, path, params=query, json=body)
            response = await client.send(request, stream=True)  # a live stream would never end: read the status
            await response.aclose()
            if response.status_code != 422:
                failures.append(f"{what}: {response.status_code}")
    assert failures == [], "\n".join(failures)


async def test_the_walks_own_bodies_are_valid(csms: Csms) -> None:
    """Guards the walk: a body refused for itself would hide what a bad parameter does (add it to BODIES)."""
    assert csms.app.http is not None
    admin = await key_for(csms, Role.ADMIN)
    refused = []
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{csms.app.http.port}", headers=admin, timeout=10
    ) as client:
        document = (await client.get("/api/openapi.json")).json()
        components = document["components"]["schemas"]
        for template, operations in document["paths"].items():
            for method, operation in operations.items():
                body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                if not body_schema:
                    continue
                path = _good_path(template, operation.get("parameters", []), components)
                body = _body(method.upper(), template, body_schema, components)
                response = await client.request(method.upper(), path, json=body)
                if response.status_code == 422 and isinstance(response.json()["detail"], list):  # the schema's 422
                    refused.append(f"{method.upper()} {template}: {response.text[:300]}")
    assert refused == [], "\n".join(refused)


def test_the_walk_covers_every_parameter_kind() -> None:
    """Guards the walk itself: an unknown kind of parameter would silently get string values."""
    assert _kind({"anyOf": [{"type": "integer"}, {"type": "null"}]}, {}) == "integer"
    assert _kind({"type": "array", "items": {"type": "string", "format": "date-time"}}, {}) == "date-time"
    assert _kind({"$ref": "#/components/schemas/E"}, {"E": {"enum": ["a"], "type": "string"}}) == "string"


async def test_the_422_says_what_the_rule_is(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    day = await api.get("/transactions", params={"started_since": "2026-12-06"}, headers=admin)
    (error,) = day.json()["detail"]
    assert (
        error["loc"] == ["query", "started_since"] and "UTC offset" in error["msg"] and "1900 to 2999" in error["msg"]
    )
    big = await api.get(f"/transactions/{2**64}", headers=admin)
    assert big.status_code == 422 and "9223372036854775807" in big.json()["detail"][0]["msg"]
    nul = await api.get("/stations", params={"search": "a\u0000b"}, headers=admin)
    assert nul.status_code == 422 and nul.json()["detail"][0]["loc"] == ["query", "search"]
