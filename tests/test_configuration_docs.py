"""docs/configuration.md lists every setting of `Settings` with its variable and default, so the two cannot drift."""

from __future__ import annotations

import json
import re
import tomllib
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from evscada.settings import Settings

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
HEADER = ["TOML key", "variable", "type", "default", "meaning"]
CODE = re.compile(r"`([^`]+)`")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # as written in the TOML file: `historian.raw_sample_days`, `notifications.people[].name`
    variable: str  # the EVSCADA_* variable that sets it (for a group: the group's one JSON variable)
    field: FieldInfo


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    variable: str
    default: str
    line: int


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The settings model a field holds, and how: itself (or None), a list of them, or a dict of them by name."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _model_in(inner[0]) if len(inner) == 1 else (None, "")
    if origin is list:
        model, how = _model_in(get_args(annotation)[0])
        return (model, "list") if how == "model" else (None, "")
    if origin is dict:
        model, how = _model_in(get_args(annotation)[1])
        return (model, "dict") if how == "model" else (None, "")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "model"
    return None, ""


def _walk(model: type[BaseModel], prefix: str, variable: str | None) -> Iterator[Setting]:
    env_prefix = Settings.model_config.get("env_prefix", "")
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        own_variable = variable or f"{env_prefix}{name}".upper()
        nested, how = _model_in(field.annotation)
        # A group that is always there ([historian]) is a heading, not a setting; an optional group
        # (notifications.smtp: none means no e-mail), a list or a dict of groups is a setting of its own.
        if not (how == "model" and field.get_default(call_default_factory=True) is not None):
            yield Setting(key, own_variable, field)
        if nested is not None:
            below = {"model": ".", "list": "[].", "dict": ".<name>."}[how]
            yield from _walk(nested, key + below, own_variable)


def _settings() -> dict[str, Setting]:
    return {setting.key: setting for setting in _walk(Settings, "", None)}


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in CELL_SEPARATOR.split(line.strip().strip("|"))]


def _first_code(cell: str) -> str:
    found = CODE.search(cell)
    return found.group(1) if found else ""


def _documented(text: str) -> list[Row]:
    """Rows of every table on the page whose header is HEADER."""
    rows: list[Row] = []
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells == HEADER:
            in_table = True
        elif in_table and not set(line) <= set("|- :"):
            assert len(cells) == len(HEADER), f"docs/configuration.md:{number}: {len(cells)} cells, not {len(HEADER)}"
            key, variable, _type, default, _meaning = cells
            rows.append(Row(_first_code(key), _first_code(variable), default, number))
    return rows


def _same(documented: Any, actual: Any) -> bool:
    if isinstance(actual, bool) or isinstance(documented, bool):
        return type(documented) is type(actual) and documented == actual
    if isinstance(actual, int | float) and isinstance(documented, int | float):
        return float(documented) == float(actual)
    if isinstance(actual, list) and isinstance(documented, list):
        return len(actual) == len(documented) and all(map(_same, documented, actual))
    if isinstance(actual, dict) and isinstance(documented, dict):
        return actual.keys() == documented.keys() and all(_same(documented[k], actual[k]) for k in actual)
    return type(documented) is type(actual) and documented == actual


def _default_problem(cell: str, field: FieldInfo) -> str | None:
    """Why the documented default is wrong, or None: `required`, `none ...`, or a TOML value in backticks."""
    if field.is_required():
        return None if cell.startswith("required") else f"is required, documented default {cell!r}"
    actual = field.get_default(call_default_factory=True)
    if actual is None:
        return None if cell.startswith("none") else f"defaults to none, documented {cell!r}"
    literal = _first_code(cell)
    if not literal:
        return f"defaults to {actual!r}, documented {cell!r} (write the default as a TOML value in backticks)"
    try:
        documented = tomllib.loads(f"value = {literal}")["value"]
    except tomllib.TOMLDecodeError as exc:
        return f"documented default `{literal}` is not a TOML value ({exc})"
    return None if _same(documented, actual) else f"defaults to {actual!r}, documented `{literal}`"


def test_the_walk_reaches_nested_settings() -> None:
    settings = _settings()

    assert "database_url" in settings
    assert settings["historian.raw_sample_days"].variable == "EVSCADA_HISTORIAN"
    assert "notifications.smtp" in settings and "notifications.smtp.host" in settings
    assert "notifications.on_call.shifts[].from" in settings
    assert "alarms.sites.<name>.offline_after_seconds" in settings
    assert "historian" not in settings


def test_every_setting_is_on_the_page() -> None:
    documented = {row.key for row in _documented(PAGE.read_text())}

    missing = sorted(set(_settings()) - documented)

    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_setting_on_the_page_exists() -> None:
    rows = _documented(PAGE.read_text())

    gone = [f"line {row.line}: {row.key!r}" for row in rows if row.key not in _settings()]

    assert not gone, f"docs/configuration.md documents settings that do not exist: {gone}"


def test_each_setting_is_documented_once() -> None:
    keys = [row.key for row in _documented(PAGE.read_text())]

    assert sorted({key for key in keys if keys.count(key) > 1}) == []


def test_documented_defaults_match_the_code() -> None:
    settings = _settings()

    wrong = [
        f"line {row.line}: {row.key} {problem}"
        for row in _documented(PAGE.read_text())
        if row.key in settings and (problem := _default_problem(row.default, settings[row.key].field))
    ]

    assert not wrong, "docs/configuration.md has wrong defaults:\n" + "\n".join(wrong)


def test_documented_variables_match_the_code() -> None:
    settings = _settings()

    wrong = [
        f"line {row.line}: {row.key} is set by {settings[row.key].variable}, documented {row.variable!r}"
        for row in _documented(PAGE.read_text())
        if row.key in settings and row.variable != settings[row.key].variable
    ]

    assert not wrong, "docs/configuration.md names wrong variables:\n" + "\n".join(wrong)


def test_groups_are_one_json_variable_as_the_page_says() -> None:
    # With a nesting delimiter, EVSCADA_HISTORIAN__RAW_SAMPLE_DAYS would work too and the page would have to say so.
    assert not Settings.model_config.get("env_nested_delimiter")


def test_the_examples_on_the_page_are_valid_settings() -> None:
    text = PAGE.read_text()
    toml_blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)
    variables = re.findall(r"^(EVSCADA_[A-Z_]+)='(.*)'$", text, flags=re.MULTILINE)

    assert toml_blocks and variables
    for block in toml_blocks:
        Settings(**tomllib.loads(block))
    for variable, value in variables:
        Settings.model_validate_json(json.dumps({variable.removeprefix("EVSCADA_").lower(): json.loads(value)}))
