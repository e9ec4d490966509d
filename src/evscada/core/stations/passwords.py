"""The OCPP rule for a station's Basic Auth password, one check for every edge that takes one (API, console)."""

from __future__ import annotations

# OCPP 1.6 security whitepaper and 2.0.1 (BasicAuthPassword): 16 to 40 characters.
MIN_LENGTH = 16
MAX_LENGTH = 40


def check_station_password(password: str) -> str:
    """The password unchanged, or ValueError: the form pydantic validators and the console's forms report."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(f"a station password has {MIN_LENGTH} to {MAX_LENGTH} characters (OCPP)")
    return password
