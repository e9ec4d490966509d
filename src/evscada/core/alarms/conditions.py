"""Pure rules that tell whether a station's report is a problem, and how to say it to an engineer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evscada.core.model import EvseRef

FIRMWARE_FAILED = frozenset({"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"})
FIRMWARE_DONE = frozenset({"Installed"})
# 1.6 DiagnosticsStatus and 2.0.1 UploadLogStatus.
UPLOAD_FAILED = frozenset({"UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"})
UPLOAD_DONE = frozenset({"Uploaded"})

# Stop reasons that always mean something went wrong (1.6 Reason and 2.0.1 ReasonEnumType).
ABNORMAL_STOPS = frozenset({"EmergencyStop", "PowerLoss", "GroundFault", "OvercurrentFault", "PowerQuality"})
# Stop reasons that are abnormal only when no energy flowed: the driver gave up, or the charger never started.
ABNORMAL_WITHOUT_ENERGY = frozenset({"EVDisconnected", "Other", "Local"})

# 2.0.1 NotifyEvent variables whose "true" means the component has a problem.
PROBLEM_VARIABLES = frozenset({"Problem", "Tripped"})


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


@dataclass(frozen=True, slots=True)
class EventProblem:
    """One NotifyEvent entry about a component: its alarm key part, and whether the problem holds now."""

    subject: str  # e.g. "EVSE 1/Connector 1 Connector/AvailabilityState"
    active: bool
    message: str
    evse: EvseRef | None = None
    tech_code: str | None = None  # the station's own fault code, e.g. "GroundFailure": rules may rank by it


def event_problems(payload: dict[str, Any]) -> list[EventProblem]:
    """The problems (or their ends) in a 2.0.1 NotifyEvent; other events (e.g. a periodic value) are skipped."""
    found = []
    for entry in payload.get("eventData", ()):
        component, variable = entry.get("component", {}), entry.get("variable", {})
        name, var = component.get("name", "?"), variable.get("name", "?")
        value = str(entry.get("actualValue", ""))
        if var in PROBLEM_VARIABLES:
            active = value.lower() == "true"
        elif var == "AvailabilityState":
            active = value == "Faulted"
        elif entry.get("trigger") == "Alerting":
            active = True  # a monitor's threshold was crossed
        elif entry.get("cleared"):
            active = False
        else:
            continue
        if entry.get("cleared"):
            active = False
        evse = component.get("evse")
        place = f"EVSE {evse.get('id')}" + (f"/{evse['connectorId']}" if "connectorId" in evse else "") if evse else ""
        instances = "".join(f"[{i}]" for i in (component.get("instance"), variable.get("instance")) if i)
        subject = f"{place} {name}/{var}{instances}".strip()
        tech = ", ".join(str(entry[k]) for k in ("techCode", "techInfo") if entry.get(k))
        message = f"{subject} = {value}" + (f" ({tech})" if tech else "")
        ref = EvseRef(int(evse.get("id", 0)), int(evse.get("connectorId", 0))) if evse else None
        code = str(entry["techCode"]) if entry.get("techCode") else None
        found.append(EventProblem(subject=subject, active=active, message=message, evse=ref, tech_code=code))
    return found
