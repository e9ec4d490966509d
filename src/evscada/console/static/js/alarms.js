// The alarms page: the standing list re-rendered by the server whenever an alarm changes, and the ticks for
// "acknowledge selected" (kept across those re-renders, so a live update never drops an operator's selection), and
// which groups of consequential alarms the operator unfolded (kept too).
"use strict";

(() => {
  const table = document.getElementById("alarms");
  if (!table || !table.dataset.live) return;  // the history is a report: it stays as asked for
  const rows = document.getElementById("alarm-rows");
  const all = document.getElementById("alarm-select-all");
  const boxes = () => Array.from(rows.querySelectorAll('input[type="checkbox"][name="id"]'));
  const syncAll = () => {
    if (!all) return;
    const list = boxes();
    const ticked = list.filter((b) => b.checked).length;
    all.checked = list.length > 0 && ticked === list.length;
    all.indeterminate = ticked > 0 && ticked < list.length;
  };
  if (all) all.addEventListener("change", () => boxes().forEach((b) => { b.checked = all.checked; }));
  rows.addEventListener("change", (e) => { if (e.target.matches('input[name="id"]')) syncAll(); });

  const query = new URLSearchParams(window.location.search);
  query.delete("message");
  query.delete("failed");
  query.set("fragment", "rows");
  // An operator typing a comment keeps it: the swap waits until no text field or menu in the table has the focus.
  const refresh = evscada.throttled(async () => {
    if (rows.contains(document.activeElement) && document.activeElement.matches('input:not([type="checkbox"]), select')) {
      setTimeout(() => refresh("rows"), 1000);
      return;
    }
    const ticked = new Set(boxes().filter((b) => b.checked).map((b) => b.value));
    const unfolded = new Set(Array.from(rows.querySelectorAll("details.consequences[open]"), (d) => d.dataset.cause));
    await evscada.swap(rows, "/alarms?" + query.toString());
    boxes().forEach((b) => { b.checked = ticked.has(b.value); });
    rows.querySelectorAll("details.consequences").forEach((d) => { if (unfolded.has(d.dataset.cause)) d.open = true; });
    syncAll();
  }, 500);
  evscada.live(["alarm_changed"], () => refresh("rows"));

  // Come from the alarm banner (/alarms#alarm-N): show that alarm's row.
  const wanted = /^#alarm-(\d+)$/.exec(window.location.hash);
  const row = wanted && rows.querySelector(`[data-alarm="${wanted[1]}"]`);
  if (row) {
    const fold = row.closest("details.consequences");
    if (fold) fold.open = true;  // a consequence: unfold its group
    row.classList.add("pointed");
    row.scrollIntoView({ block: "center" });
  }
})();
