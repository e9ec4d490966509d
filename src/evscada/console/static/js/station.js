// The station page: live connectors and command log, and operator commands with confirmation.
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

  evscada.live(evscada.STATION_EVENTS.concat(["command_finished", "alarm_changed"]), (event) => {
    if (event.station_id !== id) return;
    if (event.type === "meter_values_recorded" && trend) redrawTrend("trend");
    if (event.type === "alarm_changed") refresh("alarms");
    else if (event.type === "command_finished") refresh("commands");
    else refresh("connectors");
  });
  document.getElementById("frames-refresh").addEventListener("click", () => refresh("frames"));

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
    show(`${command.replace(/_/g, " ")}: sending…`, true);
    const answer = await evscada.post(`/api/v1/stations/${encodeURIComponent(id)}/commands/${command}`, data);
    const outcome = answer.data && (answer.data.detail && answer.data.detail.outcome ? answer.data.detail : answer.data);
    if (answer.ok) {
      show(`${command.replace(/_/g, " ")}: ${outcome.status || outcome.outcome}`, outcome.status !== "Rejected");
      if (command === "get_configuration") showSettings(outcome.data || {});
    } else {
      const detail = outcome && (outcome.error || outcome.detail || outcome.outcome);
      show(`${command.replace(/_/g, " ")} failed (${answer.status}): ${typeof detail === "string" ? detail : JSON.stringify(detail)}`, false);
    }
    refresh("commands");
  });
})();
