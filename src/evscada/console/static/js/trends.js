// Charts: one zoomable uPlot per measurand, a line per phase; fed by /data/trend (the historian: raw or buckets).
"use strict";

(() => {
  const COLOURS = ["#1f6fd1", "#d32f2f", "#2e9d4f", "#e09a00", "#8e44ad", "#00838f", "#6d4c41"];

  // 22000 -> "22k": tick labels that fit beside the chart.
  function compact(value) {
    if (value == null) return "";
    const size = Math.abs(value);
    if (size >= 1e6) return +(value / 1e6).toFixed(2) + "M";
    if (size >= 1e4) return +(value / 1e3).toFixed(1) + "k";
    return +value.toFixed(2) + "";
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
    group.series.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      series.push({ label: s.label, stroke: colour, width: 1.5, spanGaps: true });
      data.push(s.values);
      if (s.min && s.max) {
        series.push({ label: s.label + " max", stroke: colour + "66", width: 0.5, spanGaps: true });
        series.push({ label: s.label + " min", stroke: colour + "66", width: 0.5, spanGaps: true });
        data.push(s.max, s.min);
        bands.push({ series: [series.length - 2, series.length - 1], fill: colour + "22" });
      }
    });
    const averaged = group.resolution && group.resolution !== "raw";
    box.dataset.resolution = group.resolution || "raw";
    const options = {
      title: `${group.measurand}${group.unit ? " (" + group.unit + ")" : ""}${averaged ? " · " + group.resolution + " average, min, max" : ""}`,
      width,
      height: 220,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },  // drag to zoom in, double-click to zoom out
      axes: [{}, { size: 60, values: (u, ticks) => ticks.map(compact) }],
      series,
      bands,
    };
    return new uPlot(options, data, box);
  }

  async function draw(container) {
    container.innerHTML = "";
    const response = await fetch(container.dataset.trendUrl, { credentials: "same-origin" });
    if (!response.ok) {
      container.innerHTML = `<p class="error">could not load the trend (${response.status})</p>`;
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
