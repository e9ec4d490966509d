// The map: a marker per station coloured by state, clustered, filtered, updated live.
"use strict";

(() => {
  const WORST_FIRST = ["faulted", "offline", "unavailable", "pending", "charging", "available"];
  const config = JSON.parse(document.getElementById("map-config").textContent);
  const stations = new Map(JSON.parse(document.getElementById("stations-data").textContent).map((s) => [s.id, s]));
  const markers = new Map();

  const sites = JSON.parse(document.getElementById("sites-data").textContent);
  const map = L.map("map", { maxZoom: 19, zoomControl: true });

  // Without tiles (none configured, or the tile server out of reach) the map would be a grey box: draw country
  // outlines shipped with the console instead, and name the sites, so the markers still have a where.
  let outlines = null;
  function showOutlines() {
    if (outlines) return outlines;
    // Under the tiles: where they do load (a single tile failing) they cover the outlines, the rest shows through.
    map.createPane("outlines").style.zIndex = 150;
    outlines = fetch(config.outlines_url, { credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) throw new Error(`base map: ${response.status} for ${config.outlines_url}`);
        return response.json();
      })
      .then((topology) => {
        L.geoJSON(topojson.feature(topology, topology.objects.countries), {
          pane: "outlines",
          interactive: false,
          attribution: "Natural Earth",
          style: { color: "#8c97a3", weight: 1, fillColor: "#fbfbf7", fillOpacity: 1 },
        }).addTo(map);
        for (const site of sites) {
          const place = sitePlace(site);
          if (!place) continue;
          L.tooltip({ permanent: true, direction: "top", offset: [0, -14], className: "site-label" })
            .setLatLng(place).setContent(evscada.escape(site.name)).addTo(map);
        }
        const element = document.getElementById("map");
        element.classList.add("plain");
        element.dataset.basemap = "outlines";
      });
    return outlines;
  }

  if (config.tile_url) {
    const tiles = L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.attribution });
    tiles.on("tileerror", showOutlines);
    tiles.addTo(map);
  } else {
    showOutlines();
  }
  const UNCLUSTERED_AT = 17;  // the zoom from which every station shows as its own marker
  const cluster = L.markerClusterGroup({
    maxClusterRadius: 40,
    disableClusteringAtZoom: UNCLUSTERED_AT,
    // The plug-in's own click handling fans a depot's cluster out where it is, at country zoom, instead of
    // zooming in (its stations stay together down to the last clustered zoom): the click handler below zooms.
    zoomToBoundsOnClick: false,
    spiderfyOnMaxZoom: false,
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

  // A click on a cluster zooms to its stations; stations at one spot (at their site's place) fan out instead.
  cluster.on("clusterclick", (event) => {
    const group = event.layer;
    const bounds = group.getBounds();
    const padding = L.point(40, 40);
    const zoom = Math.min(map.getBoundsZoom(bounds, false, padding), UNCLUSTERED_AT);
    if (bounds.getNorthEast().equals(bounds.getSouthWest()) || zoom <= map.getZoom()) group.spiderfy();
    else map.fitBounds(bounds, { padding: [40, 40], maxZoom: UNCLUSTERED_AT });
  });

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

  /** Where a site is: the stations placed there, else the site's own location. */
  function siteLatLngs(site) {
    const placed = [...stations.values()].filter((s) => String(s.site_id) === String(site.id) && s.lat != null);
    if (placed.length) return placed.map((s) => [s.lat, s.lon]);
    return site.lat != null && site.lon != null ? [[site.lat, site.lon]] : [];
  }

  function sitePlace(site) {
    if (site.lat != null && site.lon != null) return [site.lat, site.lon];
    const points = siteLatLngs(site);
    return points.length ? L.latLngBounds(points).getCenter() : null;
  }

  /** Show these places, or all of Europe-ish when nothing is placed yet. */
  function fit(points) {
    if (points.length) map.fitBounds(points, { padding: [40, 40], maxZoom: 15 });
    else map.setView([50, 10], 4);
  }

  function allPlaced() {
    return [...stations.values()].filter((s) => s.lat != null).map((s) => [s.lat, s.lon]);
  }

  // A view first: the cluster group needs the map's zoom when its markers are added.
  fit(allPlaced());
  map.addLayer(cluster);
  redraw();

  document.getElementById("counts").addEventListener("change", (event) => {
    redraw();
    if (event.target.id !== "site-filter") return;
    const site = sites.find((s) => String(s.id) === event.target.value);
    fit(site ? siteLatLngs(site) : allPlaced());
  });

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
  window.evscadaMap = { map, markers, stations, cluster };
})();
