// The map: a marker per station coloured by state, clustered, filtered, updated live.
"use strict";

(() => {
  const WORST_FIRST = ["faulted", "offline", "unavailable", "pending", "charging", "available"];
  const config = JSON.parse(document.getElementById("map-config").textContent);
  const stations = new Map(JSON.parse(document.getElementById("stations-data").textContent).map((s) => [s.id, s]));
  const markers = new Map();

  const map = L.map("map", { maxZoom: 19, zoomControl: true });
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.attribution }).addTo(map);
  }
  const cluster = L.markerClusterGroup({
    maxClusterRadius: 40,
    disableClusteringAtZoom: 17,
    iconCreateFunction: (group) => {
      const states = group.getAllChildMarkers().map((m) => m.options.state);
      const worst = WORST_FIRST.find((s) => states.includes(s)) || "available";
      return L.divIcon({
        html: `<span>${group.getChildCount()}</span>`,
        className: `cluster state-${worst}`,
        iconSize: [36, 36],
      });
    },
  });
  map.addLayer(cluster);

  function icon(station) {
    return L.divIcon({
      className: `station-marker state-${station.state}`,
      html: `<span data-station="${evscada.escape(station.id)}" data-state="${station.state}" title="${evscada.escape(station.name)}"></span>`,
      iconSize: [22, 22],
    });
  }

  function popup(station) {
    const power = station.power_w == null ? "" : `<p>${(station.power_w / 1000).toFixed(1)} kW now</p>`;
    const rows = station.connectors.map((c) =>
      `<li><span class="pill small state-${c.state}">${c.evse_id}</span> ${evscada.escape(c.status)}` +
      (c.error_code ? ` <b>${evscada.escape(c.error_code)}</b>` : "") +
      (c.power_w != null ? ` · ${(c.power_w / 1000).toFixed(1)} kW` : "") + "</li>").join("");
    return `<div class="popup"><h3>${evscada.escape(station.name)}</h3>` +
      `<p><span class="pill state-${station.state}">${station.state}</span> ${evscada.escape(station.site || "")}</p>` +
      `${power}<ul>${rows}</ul><a href="/stations/${encodeURIComponent(station.id)}">open station</a></div>`;
  }

  function visible(station) {
    const site = document.getElementById("site-filter").value;
    const states = [...document.querySelectorAll('#counts input[name="state"]:checked')].map((i) => i.value);
    return states.includes(station.state) && (!site || String(station.site_id) === site);
  }

  function place(station) {
    let marker = markers.get(station.id);
    if (station.lat == null || station.lon == null) {
      if (marker) { cluster.removeLayer(marker); markers.delete(station.id); }
      return;
    }
    if (!marker) {
      marker = L.marker([station.lat, station.lon], { icon: icon(station), state: station.state });
      marker.bindPopup(() => popup(stations.get(station.id)));
      markers.set(station.id, marker);
    } else {
      marker.setLatLng([station.lat, station.lon]);
      marker.options.state = station.state;
      marker.setIcon(icon(station));
    }
    if (visible(station)) {
      if (!cluster.hasLayer(marker)) cluster.addLayer(marker);
      else cluster.refreshClusters(marker);
    } else if (cluster.hasLayer(marker)) {
      cluster.removeLayer(marker);
    }
    if (marker.isPopupOpen()) marker.setPopupContent(popup(station));
  }

  function recount() {
    const counts = Object.fromEntries(WORST_FIRST.map((s) => [s, 0]));
    const site = document.getElementById("site-filter").value;
    for (const s of stations.values()) if (!site || String(s.site_id) === site) counts[s.state] += 1;
    for (const [state, n] of Object.entries(counts)) {
      document.querySelector(`[data-count="${state}"]`).textContent = n;
    }
  }

  function redraw() {
    for (const s of stations.values()) place(s);
    recount();
  }

  redraw();
  const placed = [...stations.values()].filter((s) => s.lat != null).map((s) => [s.lat, s.lon]);
  if (placed.length) map.fitBounds(placed, { padding: [40, 40], maxZoom: 15 });
  else map.setView([50, 10], 4);

  document.getElementById("counts").addEventListener("change", redraw);

  const refresh = evscada.throttled(async (id) => {
    const response = await fetch("/data/stations/" + encodeURIComponent(id), { credentials: "same-origin" });
    if (!response.ok) return;
    const station = await response.json();
    stations.set(station.id, station);
    place(station);
    recount();
  }, 500);
  evscada.live(evscada.STATION_EVENTS, (event) => {
    if (!event.station_id) return;
    // Meter values change only the power in a popup: a fleet's worth of them must not flood the server.
    if (event.type === "meter_values_recorded" && !markers.get(event.station_id)?.isPopupOpen()) return;
    refresh(event.station_id);
  });
  window.evscadaMap = { map, markers, stations };
})();
