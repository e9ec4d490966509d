"""Each domain error's HTTP status, from its category: the answers clients saw before categories existed."""

from __future__ import annotations

import inspect

import pytest

from evscada.api.app import STATUS_OF
from evscada.core import errors
from evscada.core.errors import DomainError

STATUS_BY_CODE = {
    "not_found": 404,
    "unknown_station": 404,
    "unknown_site": 404,
    "unknown_vehicle": 404,
    "unknown_feeder": 404,
    "unknown_token": 404,
    "unknown_webhook": 404,
    "unknown_delivery": 404,
    "unknown_recipient": 404,
    "unknown_alarm": 404,
    "unknown_reservation": 404,
    "unknown_user": 404,
    "unknown_api_key": 404,
    "invalid_cursor": 422,
    "invalid_argument": 422,
    "authentication_failed": 422,  # e.g. security profile 1 without a password
    "station_exists": 409,
    "station_connected": 409,
    "site_exists": 409,
    "vehicle_exists": 409,
    "feeder_in_use": 409,
    "alarm_conflict": 409,
    "firmware_conflict": 409,
    "reservation_not_active": 409,
    "user_exists": 409,
    "last_admin": 409,
    "login_failed": 401,
    "login_throttled": 429,
    "station_offline": 400,
    "command_timeout": 400,
    "command_not_supported": 400,
    "command_call_error": 400,
}

ERRORS = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, DomainError)]


@pytest.mark.parametrize("error", [cls for cls in ERRORS if cls is not DomainError], ids=lambda cls: cls.code)
def test_a_domain_error_answers_the_status_of_its_category(error: type[DomainError]) -> None:
    assert STATUS_OF[error.category] == STATUS_BY_CODE[error.code]


def test_every_category_has_a_status() -> None:
    assert set(STATUS_OF) == set(errors.ErrorCategory)
