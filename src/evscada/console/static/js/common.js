// Shared by every page: the REST API with the session's CSRF token, and live events over SSE.
"use strict";

const evscada = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  // Calls `handler(event)` for each live event of these types; the browser reconnects a dropped stream itself.
  // Every part of a page (header badge, alarm banner, the page's own view) shares one stream: a browser opens at
  // most six connections to a host, and a few tabs with one stream per part would use them all up.
  const subscribers = [];
  let stream = null;
  let opening = null;
  function live(types, handler) {
    subscribers.push({ types, handler });
    if (stream) { stream.close(); stream = null; }  // a subscriber after the page loaded: open again with every type
    if (opening) return;
    opening = true;
    // Once every script of the page has subscribed: one stream for all of them.
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", openStream, { once: true });
    else setTimeout(openStream, 0);
  }
  function openStream() {
    opening = false;
    const types = [...new Set(subscribers.flatMap((s) => s.types))];
    const query = types.map((t) => "type=" + encodeURIComponent(t)).join("&");
    stream = new EventSource("/api/v1/events?" + query);
    for (const type of types) {
      stream.addEventListener(type, (message) => {
        const event = JSON.parse(message.data);
        for (const s of subscribers) if (s.types.includes(type)) s.handler(event);
      });
    }
  }

  // Runs `work(key)` at most once per `ms` for each key, however many events arrive.
  function throttled(work, ms) {
    const waiting = new Map();
    return (key) => {
      if (waiting.has(key)) return;
      waiting.set(key, setTimeout(() => { waiting.delete(key); work(key); }, ms));
    };
  }

  // Replaces an element's content with a server-rendered fragment.
  async function swap(element, url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.ok) element.innerHTML = await response.text();
    return response.ok;
  }

  function escape(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  const STATION_EVENTS = [
    "connector_status_changed", "station_connected", "station_disconnected", "station_booted",
    "transaction_started", "transaction_ended", "meter_values_recorded",
  ];

  // Plain forms that change something ask first (command forms ask in their own handler).
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-confirm]:not([data-command])");
    if (form && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });

  // The header's count of urgent alarms nobody has acknowledged, kept current by the alarm events.
  const badge = document.getElementById("alarm-badge");
  if (badge) {
    const recount = throttled(async () => {
      const response = await fetch("/data/alarms/attention", { credentials: "same-origin" });
      if (!response.ok) return;
      const { count } = await response.json();
      badge.textContent = count;
      badge.hidden = count === 0;
    }, 1000);
    recount("badge");
    live(["alarm_changed"], () => recount("badge"));
  }

  return { csrf, post, live, throttled, swap, escape, STATION_EVENTS };
})();
