"""Every domain error, in one place. Each carries a code (what happened, stable: clients and the gateway read it) and a
category (what kind of failure); each edge translates them: the API a category into an HTTP status, the gateway a code
into a CALLERROR."""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorCategory(enum.StrEnum):
    NOT_FOUND = "not_found"  # what the request names does not exist
    CONFLICT = "conflict"  # it exists, but its state forbids the request (exists already, connected, last admin ...)
    INVALID = "invalid"  # an argument breaks a rule the edge's schema cannot express
    CREDENTIALS = "credentials"  # a station's credentials are missing or wrong for its security profile
    UNAUTHENTICATED = "unauthenticated"  # a person's log-in failed
    THROTTLED = "throttled"  # too many failed attempts: refused for a while without a check
    UNSUPPORTED = "unsupported"  # the station's OCPP version cannot express the request
    UNAVAILABLE = "unavailable"  # the station is offline or did not answer in time
    STATION_ERROR = "station_error"  # the station answered with an OCPP error


class DomainError(Exception):
    code = "domain_error"
    category: ClassVar[ErrorCategory]  # every subclass names one

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the request's field at fault (schedule.periods[1].limit), if one is; the API shows it


# Stations


class UnknownStation(DomainError):
    code = "unknown_station"
    category = ErrorCategory.NOT_FOUND


class StationExists(DomainError):
    code = "station_exists"
    category = ErrorCategory.CONFLICT


class StationConnected(DomainError):
    code = "station_connected"  # disconnect the station first
    category = ErrorCategory.CONFLICT


class AuthenticationFailed(DomainError):
    code = "authentication_failed"  # a connecting station's, or a security profile set without a password
    category = ErrorCategory.CREDENTIALS


class InvalidArgument(DomainError):
    code = "invalid_argument"
    category = ErrorCategory.INVALID


# Reads


class NotFound(DomainError):
    code = "not_found"
    category = ErrorCategory.NOT_FOUND


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    category = ErrorCategory.INVALID


# Charging


class UnknownReservation(DomainError):
    code = "unknown_reservation"
    category = ErrorCategory.NOT_FOUND


class ReservationNotActive(DomainError):
    code = "reservation_not_active"  # cancelled, expired, used or refused already
    category = ErrorCategory.CONFLICT


# Control


class StationOffline(DomainError):
    code = "station_offline"  # nothing was sent
    category = ErrorCategory.UNAVAILABLE


class CommandTimeout(DomainError):
    code = "command_timeout"
    category = ErrorCategory.UNAVAILABLE


class CommandNotSupported(DomainError):
    code = "command_not_supported"  # the station's OCPP version has no such message
    category = ErrorCategory.UNSUPPORTED


class CommandCallError(DomainError):
    """The station answered with a CALLERROR."""

    code = "command_call_error"
    category = ErrorCategory.STATION_ERROR

    def __init__(self, ocpp_code: str, description: str) -> None:
        super().__init__(f"the station answered {ocpp_code}: {description}")
        self.ocpp_code = ocpp_code


# Access


class UserExists(DomainError):
    code = "user_exists"
    category = ErrorCategory.CONFLICT


class UnknownUser(DomainError):
    code = "unknown_user"
    category = ErrorCategory.NOT_FOUND


class UnknownApiKey(DomainError):
    code = "unknown_api_key"
    category = ErrorCategory.NOT_FOUND


class LastAdmin(DomainError):
    code = "last_admin"  # nobody could manage users any more
    category = ErrorCategory.CONFLICT


class LoginFailed(DomainError):
    code = "login_failed"  # one message for unknown user, wrong password and disabled user: no user enumeration
    category = ErrorCategory.UNAUTHENTICATED


class LoginThrottled(DomainError):
    """Too many failed log-ins for the name at that address, or from the address: no password is checked."""

    code = "login_throttled"
    category = ErrorCategory.THROTTLED

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed log-ins; try again in {retry_after} s")
        self.retry_after = retry_after


class UnknownSite(DomainError):
    code = "unknown_site"
    category = ErrorCategory.NOT_FOUND


class SiteExists(DomainError):
    code = "site_exists"
    category = ErrorCategory.CONFLICT


class UnknownVehicle(DomainError):
    code = "unknown_vehicle"
    category = ErrorCategory.NOT_FOUND


class VehicleExists(DomainError):
    code = "vehicle_exists"
    category = ErrorCategory.CONFLICT


class UnknownToken(DomainError):
    code = "unknown_token"
    category = ErrorCategory.NOT_FOUND


# Energy


class UnknownFeeder(DomainError):
    code = "unknown_feeder"
    category = ErrorCategory.NOT_FOUND


class FeederInUse(DomainError):
    code = "feeder_in_use"  # stations or feeders still hang under it: move or delete them first
    category = ErrorCategory.CONFLICT


# Alarms


class UnknownAlarm(DomainError):
    code = "unknown_alarm"
    category = ErrorCategory.NOT_FOUND


class AlarmConflict(DomainError):
    code = "alarm_conflict"  # e.g. acknowledged already
    category = ErrorCategory.CONFLICT


class FirmwareConflict(DomainError):
    """The request is valid but the firmware's state forbids it (an image a campaign uses, a finished campaign)."""

    code = "firmware_conflict"
    category = ErrorCategory.CONFLICT


# Notifications


class UnknownSubscription(DomainError):
    code = "unknown_webhook"
    category = ErrorCategory.NOT_FOUND


class UnknownDelivery(DomainError):
    code = "unknown_delivery"
    category = ErrorCategory.NOT_FOUND


class UnknownRecipient(DomainError):
    code = "unknown_recipient"
    category = ErrorCategory.NOT_FOUND
