// The alarms page: the active list re-rendered by the server whenever an alarm changes.
"use strict";

(() => {
  const table = document.getElementById("alarms");
  if (!table || !table.dataset.live) return;  // the history is a report: it stays as asked for
  const rows = document.getElementById("alarm-rows");
  const query = new URLSearchParams(window.location.search);
  query.delete("message");
  query.delete("failed");
  query.set("fragment", "rows");
  // An operator typing a comment keeps it: the swap waits until no field in the table has the focus.
  const refresh = evscada.throttled(() => {
    if (rows.contains(document.activeElement) && document.activeElement.matches("input, select")) {
      setTimeout(() => refresh("rows"), 1000);
      return;
    }
    evscada.swap(rows, "/alarms?" + query.toString());
  }, 500);
  evscada.live(["alarm_changed"], () => refresh("rows"));
})();
