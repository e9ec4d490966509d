// The overview (mimic): every station a symbol, kept current without redrawing the page.
// Live events only mark the picture stale; one compact JSON is fetched at most once a second however many events
// arrive (a fleet of 5,000 stations sends thousands a second), and only the symbols that changed are touched.
"use strict";

(() => {
  const root = document.getElementById("overview");
  if (!root) return;
  const MIN_GAP_MS = 1000;  // at most one fetch a second
  const SAFETY_MS = 30000;  // and one now and then anyway: events missed while the stream reconnected
  const url = root.dataset.url;

  // What the page shows now, read once from the server-rendered symbols: id -> {element, state, kw, flash}.
  const symbols = new Map();
  for (const element of root.querySelectorAll(".ov-st[data-id]")) {
    symbols.set(element.dataset.id, {
      element,
      group: element.closest(".ov-site").dataset.group,
      state: element.dataset.state,
      kw: element.querySelector(".ov-kw").textContent,
      flash: element.classList.contains("flash"),
    });
  }
  const groups = new Map([...root.querySelectorAll(".ov-site[data-group]")].map((g) => [g.dataset.group, {
    draw: g.querySelector("[data-draw]"),
    limit: g.querySelector("[data-limit]"),
    share: g.querySelector("[data-share]"),
    total: g.querySelector(".ov-total"),
    alarms: g.querySelector("[data-alarms]"),
    alarmsLink: g.querySelector(".ov-alarms"),
  }]));
  const counters = new Map([...document.querySelectorAll("#ov-counts [data-count]")].map((b) => [b.dataset.count, b]));

  const kwText = (kw) => (kw == null ? "—" : kw.toFixed(1) + " kW");
  const setText = (element, text) => { if (element && element.textContent !== text) element.textContent = text; };

  function applyStation(row, states) {
    const [id, group, code, kw, flash] = row;
    const known = symbols.get(id);
    if (!known || known.group !== String(group)) return false;  // a station added or moved: the page is stale
    const state = states[code];
    if (state !== known.state) {
      known.element.classList.replace("st-" + known.state, "st-" + state);
      known.element.dataset.state = state;
      known.element.title = known.element.title.replace(/: [a-z]+$/, ": " + state);
      known.state = state;
    }
    const text = kwText(kw);
    if (text !== known.kw) { known.element.lastElementChild.textContent = text; known.kw = text; }
    if (Boolean(flash) !== known.flash) { known.flash = Boolean(flash); known.element.classList.toggle("flash", known.flash); }
    return true;
  }

  function applyGroup([key, drawKw, limitKw, alarms, over]) {
    const g = groups.get(String(key));
    if (!g) return false;
    setText(g.draw, drawKw == null ? "—" : drawKw.toFixed(1));
    setText(g.limit, limitKw == null ? "no limit set" : limitKw.toFixed(1) + " kW");
    g.share.parentElement.hidden = limitKw == null;
    const share = drawKw != null && limitKw ? Math.max(0, Math.min(100, (drawKw / limitKw) * 100)) : 0;
    const width = share.toFixed(1) + "%";
    if (g.share.style.width !== width) g.share.style.width = width;
    g.total.classList.toggle("over", Boolean(over));
    setText(g.alarms, String(alarms));
    g.alarmsLink.classList.toggle("some", alarms > 0);
    g.alarmsLink.lastChild.textContent = alarms === 1 ? " active alarm" : " active alarms";
    return true;
  }

  function apply(data) {
    const states = data.k;
    const counts = Object.fromEntries(states.map((s) => [s, 0]));
    let stale = data.s.length !== symbols.size;
    for (const row of data.s) {
      if (!applyStation(row, states)) stale = true;
      counts[states[row[2]]] += 1;
    }
    for (const row of data.g) if (!applyGroup(row)) stale = true;
    if (stale) { window.location.reload(); return; }  // stations or sites came or went: draw the page afresh
    for (const [state, n] of Object.entries(counts)) setText(counters.get(state), String(n));
    root.dataset.updated = String(++updates);
  }

  let updates = 0;
  let dirty = false;
  let confirm = false;  // events came since the last fetch: check once more a second after it
  let busy = false;
  let timer = null;
  let last = 0;
  const stats = { fetches: 0, events: 0 };

  function schedule() {
    if (busy || timer !== null) return;
    timer = setTimeout(refresh, Math.max(0, last + MIN_GAP_MS - Date.now()));
  }

  // The server shares one picture a second among its browsers, so a fetch may answer with one read just before the
  // last events: after a fetch for events, one more a second later, whatever comes, shows where things ended.
  async function refresh() {
    timer = null;
    if (!dirty) return;
    const followUp = confirm;
    dirty = false;
    confirm = false;
    busy = true;
    last = Date.now();
    stats.fetches += 1;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) apply(await response.json());
    } catch (error) {
      dirty = true;  // the server out of reach for a moment: try again on the next beat
    } finally {
      busy = false;
      if (followUp) dirty = true;
      if (dirty) schedule();
    }
  }

  function check() { dirty = true; schedule(); }

  evscada.live([...evscada.STATION_EVENTS, "alarm_changed"], () => { stats.events += 1; confirm = true; check(); });
  setInterval(check, SAFETY_MS);

  document.getElementById("ov-site").addEventListener("change", (event) => {
    window.location.href = event.target.value ? "/overview/" + encodeURIComponent(event.target.value) : "/overview";
  });

  window.evscadaOverview = { symbols, stats };
})();
