// Charts: one zoomable uPlot per measurand, a line per phase; fed by /data/trend.
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
    const options = {
      title: `${group.measurand}${group.unit ? " (" + group.unit + ")" : ""}`,
      width,
      height: 220,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },  // drag to zoom in, double-click to zoom out
      axes: [{}, { size: 60, values: (u, ticks) => ticks.map(compact) }],
      series: [{}].concat(group.series.map((s, i) => ({
        label: s.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true,
      }))),
    };
    const data = [group.x].concat(group.series.map((s) => s.values));
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
