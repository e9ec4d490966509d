// Charts: one zoomable uPlot per measurand, a line per phase (or per compared session); fed by /data/trend.
// Every chart of a page shares one cursor: hovering (or touching) one draws the line at that time on all of them,
// and each chart's readout gives each line's value then. Each chart saves as a PNG, drawn in the browser.
"use strict";

(() => {
  const COLOURS = ["#1f6fd1", "#d32f2f", "#2e9d4f", "#e09a00", "#8e44ad", "#00838f", "#6d4c41"];
  const SYNC_KEY = "evscada-trends";  // the page's charts move their cursors together
  // Tick steps for time since a session's start: whole minutes and hours, never 0:07:30.
  const SINCE_START_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  // The readout and the PNG button are styled by trends.css; pages that draw trends without linking it get it here.
  if (!document.querySelector('link[href$="/trends.css"]')) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/static/console/trends.css";
    document.head.appendChild(link);
  }

  // Values arrive as stored (W, Wh); a chart shows them scaled to its unit (kW, kWh), in plain numbers:
  // 2500 kWh reads as "2,500", never "2.5M".
  const NUMBER = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });
  function plain(value) {
    return value == null ? "" : NUMBER.format(value);
  }

  // h:mm for ticks and h:mm:ss for the readout; before a session's start (a sample stamped early) with a minus.
  function sinceStart(seconds, withSeconds) {
    const whole = Math.round(Math.abs(seconds));
    const sign = seconds < 0 && whole ? "-" : "";
    const h = Math.floor(whole / 3600);
    const m = String(Math.floor((whole % 3600) / 60)).padStart(2, "0");
    const s = String(whole % 60).padStart(2, "0");
    return `${sign}${h}:${m}` + (withSeconds ? `:${s}` : "");
  }

  // The console shows times in UTC (the form says so): the axis and the readout too, whatever the browser's zone.
  function utc(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  // Wide enough for the longest tick label ("1,823.32"), so that none is cut off at the left.
  function axisWidth(u, labels) {
    const longest = Math.max(0, ...(labels || []).map((label) => String(label).length));
    return Math.max(50, longest * 7 + 24);
  }

  function scaled(values, scale) {
    return values && scale !== 1 ? values.map((v) => (v == null ? null : v * scale)) : values;
  }

  // A line's value at time x: its last sample at or before x, and none outside the line's own span
  // (a shorter session has no value after its end). `xs` is sorted.
  function valueAt(xs, ys, x) {
    let low = 0;
    let high = xs.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (xs[mid] <= x) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    let last = -1;
    for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null) { last = i; break; }
    if (found < 0 || last < 0 || xs[last] < x) return null;
    for (let i = found; i >= 0; i--) if (ys[i] != null) return ys[i];
    return null;
  }

  function readout(u, box, lines, relative, unit) {
    const out = box.querySelector(".readout");
    const left = u.cursor.left;
    if (left == null || left < 0) return;  // the cursor left the chart: keep the last reading in view
    const x = u.posToVal(left, "x");
    out.dataset.x = String(x);
    out.replaceChildren();
    const at = document.createElement("time");
    at.textContent = relative ? sinceStart(x, true) + " since start" : utc(x);
    out.appendChild(at);
    for (const line of lines) {
      const value = valueAt(u.data[0], u.data[line.index], x);
      const item = document.createElement("span");
      item.className = "reading";
      item.dataset.label = line.label;
      item.dataset.value = value == null ? "" : String(value);
      const swatch = document.createElement("i");
      swatch.style.background = line.colour;
      item.append(swatch, `${line.label} `);
      const shown = document.createElement("b");
      shown.textContent = value == null ? "—" : plain(value) + (unit ? " " + unit : "");
      item.appendChild(shown);
      out.appendChild(item);
    }
  }

  // A finger has no hover: touching or sliding along a chart places the shared cursor where it is.
  function followTouch(u) {
    const place = (event) => {
      const touch = event.touches[0];
      if (!touch) return;
      const rect = u.over.getBoundingClientRect();
      const left = Math.min(Math.max(touch.clientX - rect.left, 0), rect.width);
      const top = Math.min(Math.max(touch.clientY - rect.top, 0), rect.height);
      u.setCursor({ left, top }, true, true);  // fire the hooks (the readout) and tell the other charts
    };
    u.over.addEventListener("touchstart", place, { passive: true });
    u.over.addEventListener("touchmove", place, { passive: true });
  }

  // The chart as a PNG: its title, the plot as uPlot drew it (axes included) and a key of its lines, on white.
  function savePng(u, box, title, lines) {
    const plot = u.ctx.canvas;
    const ratio = plot.width / (u.width || plot.width);
    const pad = 10 * ratio;
    const row = 18 * ratio;
    const canvas = document.createElement("canvas");
    canvas.width = plot.width;
    canvas.height = plot.height + row * (1 + lines.length) + pad * 2;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#1d232b";
    ctx.font = `bold ${13 * ratio}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.fillText(title, pad, pad + row / 2);
    ctx.drawImage(plot, 0, pad + row);
    ctx.font = `${12 * ratio}px system-ui, sans-serif`;
    lines.forEach((line, i) => {
      const y = pad + row + plot.height + row * i + row / 2;
      ctx.fillStyle = line.colour;
      ctx.fillRect(pad, y - 4 * ratio, 14 * ratio, 8 * ratio);
      ctx.fillStyle = "#1d232b";
      ctx.fillText(line.label, pad + 20 * ratio, y);
    });
    canvas.toBlob((blob) => {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `trend-${box.dataset.measurand}.png`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    }, "image/png");
  }

  function chart(container, group, relative) {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.measurand = group.measurand;
    box.dataset.points = String(group.x.length);
    const tools = document.createElement("div");
    tools.className = "chart-tools";
    const reading = document.createElement("div");
    reading.className = "readout";
    const png = document.createElement("button");
    png.type = "button";
    png.className = "small png";
    png.textContent = "PNG";
    tools.append(reading, png);
    box.appendChild(tools);
    container.appendChild(box);
    const columns = container.clientWidth > 1100 ? 2 : 1;  // two charts a row on wide screens
    const width = Math.max(260, Math.floor(container.clientWidth / columns) - 20);
    // A downsampled chart draws each bucket's average, with its min and max as thin lines and a band between.
    // Compared sessions: each session its own colour, a dashed line for its further phases.
    const series = [{}];
    const data = [group.x];
    const bands = [];
    const lines = [];
    const unit = group.shown_unit != null ? group.shown_unit : group.unit || "";
    const value = (u, v) => (v == null ? "--" : plain(v) + (unit ? " " + unit : ""));
    const seen = new Set();
    group.series.forEach((s, i) => {
      const scale = s.scale != null ? s.scale : group.scale || 1;
      const colour = COLOURS[(relative ? s.source : i) % COLOURS.length];
      const again = relative && seen.has(s.source);
      seen.add(s.source);
      series.push({ label: s.label, stroke: colour, width: 1.5, spanGaps: true, value, dash: again ? [6, 4] : undefined });
      data.push(scaled(s.values, scale));
      lines.push({ label: s.label, colour, index: series.length - 1 });
      if (s.min && s.max && s.min.some((v) => v != null)) {
        series.push({ label: s.label + " max", stroke: colour + "66", width: 0.5, spanGaps: true, value });
        series.push({ label: s.label + " min", stroke: colour + "66", width: 0.5, spanGaps: true, value });
        data.push(scaled(s.max, scale), scaled(s.min, scale));
        bands.push({ series: [series.length - 2, series.length - 1], fill: colour + "22" });
      }
    });
    const averaged = group.resolution && group.resolution !== "raw";
    box.dataset.resolution = group.resolution || "raw";
    box.dataset.unit = unit;
    const title = `${group.name || group.measurand}${unit ? " (" + unit + ")" : ""}${averaged ? " · " + group.resolution + " average, min, max" : ""}`;
    const xAxis = relative
      ? { label: "h:mm since start", labelSize: 20, incrs: SINCE_START_STEPS, values: (u, ticks) => ticks.map((t) => sinceStart(t, false)) }
      : {};
    const options = {
      title,
      width,
      height: 220,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      // Compared sessions start at 0 on the axis, whenever their first sample came.
      scales: { x: relative ? { time: false, range: (u, min, max) => [Math.min(0, min), Math.max(max, 60)] } : { time: true } },
      cursor: { drag: { x: true, y: false }, sync: { key: SYNC_KEY, setSeries: false } },  // drag to zoom in
      legend: { live: false },  // the legend names the lines; the readout above gives their values at the cursor
      axes: [xAxis, { size: axisWidth, values: (u, ticks) => ticks.map(plain) }],
      series,
      bands,
      hooks: { setCursor: [(u) => readout(u, box, lines, relative, unit)] },
    };
    const u = new uPlot(options, data, box);
    followTouch(u);
    png.addEventListener("click", () => savePng(u, box, title, lines));
    return u;
  }

  async function draw(container) {
    for (const old of container.charts || []) old.destroy();  // out of the shared cursor, too
    container.charts = [];
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
    const relative = body.x_axis === "since_start";
    container.dataset.xAxis = body.x_axis || "time";
    container.charts = body.groups.map((group) => chart(container, group, relative));
    container.dataset.state = "drawn";
  }

  for (const container of document.querySelectorAll(".trend[data-trend-url]")) draw(container);
  window.evscadaTrends = { draw };
})();
