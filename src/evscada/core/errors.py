"""Domain errors; each edge (gateway, API) translates the code into its own language."""


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownStation(DomainError):
    code = "unknown_station"


class AuthenticationFailed(DomainError):
    code = "authentication_failed"


class StationExists(DomainError):
    code = "station_exists"


class InvalidArgument(DomainError):
    code = "invalid_argument"
