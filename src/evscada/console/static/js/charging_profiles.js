// The station page's charging profiles: the list in force follows the command log, the composite schedule is
// asked for on demand through the REST API (GetCompositeSchedule).
"use strict";

(() => {
  const root = document.getElementById("station");
  const card = document.getElementById("charging-profiles");
  if (!root || !card) return;
  const id = root.dataset.station;
  const list = document.getElementById("profiles");
  const form = document.getElementById("composite-form");
  const target = document.getElementById("composite-result");

  const refresh = evscada.throttled(() => evscada.swap(list, "/stations/" + encodeURIComponent(id) + "?fragment=profiles"), 700);
  evscada.live(["command_finished"], (event) => { if (event.station_id === id) refresh("profiles"); });

  function table(schedule) {
    const rows = schedule.periods.map((p) =>
      `<tr><td>${evscada.escape(p.start_s)} s</td><td>${evscada.escape(p.limit)} ${evscada.escape(schedule.unit)}</td>` +
      `<td>${evscada.escape(p.phases ?? "")}</td></tr>`).join("");
    const start = schedule.start ? ` from ${evscada.escape(schedule.start)}` : "";
    return `<p>EVSE ${evscada.escape(schedule.evse_id)}${start}, ${evscada.escape(schedule.duration_s ?? "")} s</p>` +
      `<table class="list small"><thead><tr><th>From</th><th>Limit</th><th>Phases</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const query = new URLSearchParams();
    for (const field of form.querySelectorAll("[name]")) if (field.value !== "") query.set(field.name, field.value);
    target.textContent = "asking the station…";
    const response = await fetch(`/api/v1/stations/${encodeURIComponent(id)}/composite-schedule?${query}`, { credentials: "same-origin" });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    const answer = data && data.detail && data.detail.outcome ? data.detail : data;
    if (response.ok && answer.schedule) target.innerHTML = table(answer.schedule);
    else if (response.ok) target.textContent = `the station answered ${answer.status}`;
    else target.textContent = `failed (${response.status}): ${answer && (answer.error || (typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail)) || answer.outcome)}`;
  });
})();
