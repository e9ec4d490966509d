// The station page: live connectors, alarms, command log, status history and OCPP frames (all from the page's one
// event stream, throttled), and operator commands with confirmation whose result shows next to their button.
"use strict";

(() => {
  const root = document.getElementById("station");
  const id = root.dataset.station;
  const base = "/stations/" + encodeURIComponent(id) + "?fragment=";
  const connectors = document.getElementById("connectors");
  const result = document.getElementById("command-result");

  const refresh = evscada.throttled((part) => {
    if (part === "connectors") {
      evscada.swap(connectors, base + "connectors");
      fetch("/data/stations/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then((r) => r.json()).then((s) => {
          const pill = document.getElementById("station-state");
          pill.textContent = s.state;
          pill.className = "pill state-" + s.state;
        }).catch(() => {});
    } else {
      evscada.swap(document.getElementById(part), base + part);
    }
  }, 700);

  const trend = document.querySelector(".trend[data-trend-url]");
  const redrawTrend = evscada.throttled(() => window.evscadaTrends.draw(trend), 30000);  // a trend, not a tick log

  // The logs scroll by with every message: redrawn at most once a second (history) or every two (frames), and not
  // while the operator is selecting text in them to copy a frame for the vendor.
  const selecting = (element) => {
    const selection = window.getSelection();
    return selection && !selection.isCollapsed && element.contains(selection.anchorNode);
  };
  const logs = evscada.throttled((part) => {
    const element = document.getElementById(part);
    if (!element) return;
    if (selecting(element)) { setTimeout(() => logs(part), 2000); return; }
    evscada.swap(element, base + part);
  }, 1000);
  const frames = evscada.throttled(() => logs("frames"), 1000);  // with `logs`' second: at most one per 2 s

  // Every event of the station means frames went back and forth; a status change is also a history line.
  const FRAME_EVENTS = ["command_finished", "alarm_changed", "station_message_received", "security_event_raised"];
  evscada.live(evscada.STATION_EVENTS.concat(FRAME_EVENTS), (event) => {
    if (event.station_id !== id) return;
    frames("frames");
    if (event.type === "meter_values_recorded" && trend) redrawTrend("trend");
    if (event.type === "alarm_changed") refresh("alarms");
    else if (event.type === "command_finished") refresh("commands");
    else if (event.type === "station_message_received" || event.type === "security_event_raised") return;
    else refresh("connectors");
    if (event.type === "connector_status_changed") logs("history");
  });
  document.getElementById("frames-refresh").addEventListener("click", () => logs("frames"));

  function body(form) {
    const data = {};
    for (const field of form.querySelectorAll("[name]")) {
      if (field.value === "" && field.dataset.type) continue;
      if (field.value === "" && field.name !== "value") continue;
      if (field.dataset.type === "int") data[field.name] = parseInt(field.value, 10);
      else if (field.dataset.type === "bool") data[field.name] = field.value === "true";
      else data[field.name] = field.value;
    }
    return data;
  }

  function show(outcome, ok) {
    if (!result) return;
    result.textContent = outcome;
    result.className = "result " + (ok ? "ok" : "failed");
  }

  // What the operator reads next to the button: the station's answer in its own words (2.0.1 statusInfo), or why
  // there is none. `kind` (data-outcome) is one of sending, accepted, rejected, offline, timeout, error.
  const FAILED = {
    offline: ["offline", "offline: nothing was sent"],
    timeout: ["timeout", "timed out: the station did not answer in time"],
    call_error: ["error", "the station answered with an error"],
    not_supported: ["error", "not supported by the station's OCPP version"],
  };
  function stationWords(outcome) {
    const info = (outcome && outcome.data && outcome.data.statusInfo) || {};
    return [info.reasonCode, info.additionalInfo].filter((w) => w).join(": ");
  }
  function verdict(answer, outcome) {
    if (answer.ok) {
      const status = outcome.status || outcome.outcome;
      const words = stationWords(outcome);
      const kind = /^(Accepted|Scheduled|Unlocked)$/.test(status) ? "accepted" : "rejected";
      return [kind, status + (words ? " (" + words + ")" : "")];
    }
    const failed = outcome && FAILED[outcome.outcome];
    if (failed) {
      const detail = [outcome.status, outcome.error].filter((w) => w).join(": ");
      return [failed[0], failed[1] + (detail ? " (" + detail + ")" : "")];
    }
    const detail = outcome && (outcome.error || outcome.detail || outcome.outcome);
    return ["error", `failed (${answer.status}): ${typeof detail === "string" ? detail : JSON.stringify(detail)}`];
  }
  function beside(form, kind, text) {
    let out = form.querySelector("output.command-outcome");
    if (!out) {
      out = document.createElement("output");
      out.className = "command-outcome";
      out.setAttribute("role", "status");
      form.appendChild(out);
    }
    out.dataset.outcome = kind;
    out.textContent = text;
  }

  function showSettings(data) {
    const target = document.getElementById("config-result");
    const items = data.settings || [];
    if (!target) return;
    target.innerHTML = "<table class='list small'><tbody>" + items.map((k) =>
      `<tr><td>${evscada.escape(k.component ? k.component + "." + k.name : k.name)}</td>` +
      `<td>${evscada.escape(k.value ?? "")}</td><td>${evscada.escape(k.status === "Accepted" ? "" : k.status)}` +
      `${k.readonly ? " read-only" : ""}</td></tr>`).join("") + "</tbody></table>";
  }

  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("form[data-command]");
    if (!form) return;
    e.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const command = form.dataset.command;
    let data = body(form);
    if (command === "get_configuration") {
      data = { settings: data.name ? [{ name: data.name, component: data.component }] : [] };
    }
    const what = command.replace(/_/g, " ");
    show(`${what}: sending…`, true);
    beside(form, "sending", "sending…");
    const answer = await evscada.post(`/api/v1/stations/${encodeURIComponent(id)}/commands/${command}`, data);
    const outcome = answer.data && (answer.data.detail && answer.data.detail.outcome ? answer.data.detail : answer.data);
    const [kind, text] = verdict(answer, outcome);
    beside(form, kind, text);
    show(`${what}: ${text}`, kind === "accepted");
    if (answer.ok && command === "get_configuration") showSettings(outcome.data || {});
    refresh("commands");
  });
})();
