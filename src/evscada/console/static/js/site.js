// The site page: totals, nodes and sessions swapped in every few seconds, and a trend of draw, allocation and limit.
"use strict";

(() => {
  const root = document.getElementById("site");
  if (!root || root.dataset.managed !== "true") return;
  const id = root.dataset.site;
  const stations = new Set((root.dataset.stations || "").split(" ").filter(Boolean));
  const live = document.getElementById("site-live");
  const trend = document.getElementById("site-trend");
  const EVERY_MS = 5000;
  const SERIES = [
    { key: "draw_kw", label: "measured", stroke: "#1f6fd1", width: 2 },
    { key: "allocated_kw", label: "allocated", stroke: "#2e9d4f", width: 1.5 },
    { key: "limit_kw", label: "limit", stroke: "#d32f2f", width: 1.5, dash: [6, 4] },
  ];
  let plot = null;
  let last = null;

  function kw(value) {
    if (value == null) return "—";
    const text = (Math.round(value * 10) / 10 + 0).toFixed(1);
    return (text === "-0.0" ? "0.0" : text) + " kW";
  }

  function columns(body) {
    const t = body.trend;
    const data = [t.x];
    for (const s of SERIES) data.push(t[s.key]);
    const capacity = body.capacity_kw;
    data.push(t.x.map(() => capacity));
    return data;
  }

  // The time axis spans the samples, and at least the last few minutes: a trend just started (one or two samples
  // a second apart) would otherwise be drawn over years or milliseconds.
  const MIN_SPAN_S = 300;
  function span(u, min, max) {
    const xs = u.data[0];
    if (xs && xs.length === 1) return [xs[0] - MIN_SPAN_S, xs[0] + 10];  // uPlot's own guess for one point is years
    if (min == null || max == null) return [Date.now() / 1000 - MIN_SPAN_S, Date.now() / 1000];
    return max - min < MIN_SPAN_S ? [max - MIN_SPAN_S, max] : [min, max];
  }

  function build(body) {
    trend.innerHTML = "";
    const width = Math.max(260, trend.clientWidth - 4);
    const series = [{}].concat(SERIES.map((s) => ({
      label: s.label, stroke: s.stroke, width: s.width, dash: s.dash, spanGaps: true,
      value: (u, v) => kw(v),
    })));
    series.push({ label: "capacity", stroke: "#7a7a7a", width: 1, dash: [2, 4], value: (u, v) => kw(v) });
    const options = {
      width,
      height: width < 500 ? 200 : 260,
      scales: {
        x: { time: true, range: span },
        y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.1)] },
      },
      axes: [{}, { size: 50, label: "kW", values: (u, ticks) => ticks.map((v) => +v.toFixed(1) + "") }],
      cursor: { drag: { x: true, y: false } },
      series,
    };
    plot = new uPlot(options, columns(body), trend);
  }

  function draw(body) {
    last = body;
    if (!body.managed) return;
    if (!body.trend.x.length) {
      if (plot) { plot.destroy(); plot = null; }
      trend.innerHTML = '<p class="muted">No trend yet: it starts with the load manager\'s next recompute (kept in memory only).</p>';
      trend.dataset.state = "empty";
      return;
    }
    if (plot) plot.setData(columns(body));
    else build(body);
    trend.dataset.state = "drawn";
    trend.dataset.points = String(body.trend.x.length);
  }

  // The page came with the live part rendered: the first call only loads the trend.
  async function refresh(trendOnly) {
    if (document.hidden) return;
    const [fragment, data] = await Promise.allSettled([
      trendOnly === true ? Promise.resolve(true) : evscada.swap(live, "/sites/" + encodeURIComponent(id) + "?fragment=live"),
      fetch("/data/sites/" + encodeURIComponent(id), { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      }),
    ]);
    if (data.status === "fulfilled") draw(data.value);
    else if (!plot) trend.innerHTML = '<p class="error">could not load the trend</p>';
    root.dataset.refreshes = String(Number(root.dataset.refreshes || 0) + 1);  // tests wait on it
    return fragment;
  }

  const soon = evscada.throttled(refresh, 700);
  evscada.live(["transaction_started", "transaction_ended", "station_connected", "station_disconnected"], (event) => {
    if (stations.has(event.station_id)) soon("site");
  });

  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (plot && last) { plot.destroy(); plot = null; draw(last); }
    }, 200);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) soon("site"); });

  refresh(true);
  setInterval(refresh, EVERY_MS);
})();
