// Charts: one zoomable uPlot per measurand, a line per phase; fed by /data/trend (the historian: raw or buckets).
"use strict";

(() => {
  const COLOURS = ["#1f6fd1", "#d32f2f", "#2e9d4f", "#e09a00", "#8e44ad", "#00838f", "#6d4c41"];

  // Values arrive as stored (W, Wh); a chart shows them scaled to its unit (kW, kWh), in plain numbers:
  // 2500 kWh reads as "2,500", never "2.5M".
  const NUMBER = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });
  function plain(value) {
    return value == null ? "" : NUMBER.format(value);
  }

  // Wide enough for the longest tick label ("1,823.32"), so that none is cut off at the left.
  function axisWidth(u, labels) {
    const longest = Math.max(0, ...(labels || []).map((label) => String(label).length));
    return Math.max(50, longest * 7 + 24);
  }

  function scaled(values, scale) {
    return values && scale !== 1 ? values.map((v) => (v == null ? null : v * scale)) : values;
  }

  function chart(container, group) {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.measurand = group.measurand;
    box.dataset.points = String(group.x.length);
    container.appendChild(box);
    const columns = container.clientWidth > 1100 ? 2 : 1;  // two charts a row on wide screens
    const width = Math.max(280, Math.floor(container.clientWidth / columns) - 20);
    // A downsampled chart draws each bucket's average, with its min and max as thin lines and a band between.
    const series = [{}];
    const data = [group.x];
    const bands = [];
    const unit = group.shown_unit != null ? group.shown_unit : group.unit || "";
    const scale = group.scale || 1;
    const value = (u, v) => (v == null ? "--" : plain(v) + (unit ? " " + unit : ""));
    group.series.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      series.push({ label: s.label, stroke: colour, width: 1.5, spanGaps: true, value });
      data.push(scaled(s.values, scale));
      if (s.min && s.max) {
        series.push({ label: s.label + " max", stroke: colour + "66", width: 0.5, spanGaps: true, value });
        series.push({ label: s.label + " min", stroke: colour + "66", width: 0.5, spanGaps: true, value });
        data.push(scaled(s.max, scale), scaled(s.min, scale));
        bands.push({ series: [series.length - 2, series.length - 1], fill: colour + "22" });
      }
    });
    const averaged = group.resolution && group.resolution !== "raw";
    box.dataset.resolution = group.resolution || "raw";
    box.dataset.unit = unit;
    const options = {
      title: `${group.name || group.measurand}${unit ? " (" + unit + ")" : ""}${averaged ? " · " + group.resolution + " average, min, max" : ""}`,
      width,
      height: 220,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },  // drag to zoom in, double-click to zoom out
      axes: [{}, { size: axisWidth, values: (u, ticks) => ticks.map(plain) }],
      series,
      bands,
    };
    return new uPlot(options, data, box);
  }

  async function draw(container) {
    container.innerHTML = "";
    const response = await fetch(container.dataset.trendUrl, { credentials: "same-origin" });
    if (!response.ok) {
      // The server says what was wrong (a field, a range) as {"detail": "..."}: show that, not a status code.
      const body = await response.json().catch(() => ({}));
      const message = document.createElement("p");
      message.className = "error";
      message.setAttribute("role", "alert");
      message.textContent = typeof body.detail === "string" ? body.detail : `could not load the trend (${response.status})`;
      container.appendChild(message);
      container.dataset.state = "failed";
      return;
    }
    const body = await response.json();
    if (!body.groups.length) {
      container.innerHTML = '<p class="muted">no meter values in this range</p>';
      container.dataset.state = "empty";
      return;
    }
    container.charts = body.groups.map((group) => chart(container, group));
    container.dataset.state = "drawn";
  }

  for (const container of document.querySelectorAll(".trend[data-trend-url]")) draw(container);
  window.evscadaTrends = { draw };
})();
