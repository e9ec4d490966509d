"""Pure rules that tell whether a station's report is a problem, and how to say it to an engineer."""

from __future__ import annotations

from evscada.core.model import EvseRef

FIRMWARE_FAILED = frozenset({"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"})
FIRMWARE_DONE = frozenset({"Installed"})
# 1.6 DiagnosticsStatus and 2.0.1 UploadLogStatus.
UPLOAD_FAILED = frozenset({"UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"})
UPLOAD_DONE = frozenset({"Uploaded"})

# Security event types with an alarm each: OCPP's (2.0.1 appendix 1; the 1.6 security whitepaper's names where they
# differ) and the CSMS's own. Any other type a station sends shares one alarm per station (OTHER_SECURITY_EVENTS),
# so a station inventing types cannot open alarms without end.
SECURITY_EVENT_TYPES = frozenset(
    {
        "FirmwareUpdated",
        "FailedToAuthenticateAtCsms",
        "FailedToAuthenticateAtCentralSystem",
        "CsmsFailedToAuthenticate",
        "CentralSystemFailedToAuthenticate",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "ReconfigurationOfSecurityParameters",
        "MemoryExhaustion",
        "InvalidMessages",
        "AttemptedReplayAttacks",
        "TamperDetectionActivated",
        "InvalidFirmwareSignature",
        "InvalidFirmwareSigningCertificate",
        "InvalidCsmsCertificate",
        "InvalidCentralSystemCertificate",
        "InvalidChargingStationCertificate",
        "InvalidTLSVersion",
        "InvalidTLSCipherSuite",
        "MaintenanceLoginAccepted",
        "MaintenanceLoginFailed",
        # Seen by the CSMS itself: a station's handshake, a burst of them, a burst of console log-ins.
        "AuthenticationFailed",
        "InvalidAuthorizationHeader",
        "AuthenticationBackOff",
        "ConsoleLoginFailures",
    }
)
OTHER_SECURITY_EVENTS = "other"

# Stop reasons that always mean something went wrong (1.6 Reason and 2.0.1 ReasonEnumType).
ABNORMAL_STOPS = frozenset({"EmergencyStop", "PowerLoss", "GroundFault", "OvercurrentFault", "PowerQuality"})
# Stop reasons that are abnormal only when no energy flowed: the driver gave up, or the charger never started.
ABNORMAL_WITHOUT_ENERGY = frozenset({"EVDisconnected", "Other", "Local"})


# ISA-18.2 consequential alarms: an alarm raised on a station within this many seconds of another alarm of the same
# station and place, still active, is recorded as that one's consequence (a ground failure's connector fault, its
# aborted session, its NotifyEvent problem: one cause, folded together in the console and counted once).
CAUSE_WINDOW_SECONDS = 60.0
# Sources never folded under another alarm, nor taken as a cause: each security event needs its own look.
UNGROUPED_SOURCES = frozenset({"security"})


def station_wide(evse: EvseRef | None) -> bool:
    return evse is None or evse.evse_id == 0


def same_place(first: EvseRef | None, then: EvseRef | None) -> bool:
    """Whether two alarms of one station can share a cause: either concerns the whole station, or both the same EVSE
    (and the same connector, when both name one)."""
    if first is None or then is None or station_wide(first) or station_wide(then):
        return True
    if first.evse_id != then.evse_id:
        return False
    return first.connector_id == 0 or then.connector_id in (0, first.connector_id)


def where(evse: EvseRef | None) -> str:
    if evse is None or evse.evse_id == 0:
        return "station"
    return f"EVSE {evse.evse_id} connector {evse.connector_id}"


def fault_message(evse: EvseRef, status: str, error_code: str | None, info: str | None, vendor: str | None) -> str:
    what = error_code or status
    details = ", ".join(part for part in (info, vendor and f"vendor code {vendor}") if part)
    text = f"{where(evse)}: {what} (status {status})"
    return f"{text}: {details}" if details else text


def abnormal_end(stop_reason: str | None, energy_wh: float | None) -> str | None:
    """Why a session's end needs a look, or None when it ended normally."""
    if stop_reason in ABNORMAL_STOPS:
        return f"session stopped by {stop_reason}"
    if stop_reason in ABNORMAL_WITHOUT_ENERGY and energy_wh is not None and energy_wh <= 0:
        if stop_reason == "EVDisconnected":
            return "EV disconnected before any energy was delivered"
        return f"session ended ({stop_reason}) without delivering any energy"
    return None
