// The stations list: rows re-rendered by the server when a station changes, with the page's filter and sort.
"use strict";

(() => {
  const rows = document.getElementById("stations-rows");
  const query = new URLSearchParams(window.location.search);
  query.set("fragment", "rows");
  const refresh = evscada.throttled(() => evscada.swap(rows, "/stations?" + query.toString()), 1000);
  evscada.live(evscada.STATION_EVENTS.filter((t) => t !== "meter_values_recorded"), () => refresh("all"));
})();
