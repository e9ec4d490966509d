// Access pages: a token's vehicle is typed, not picked from a list of a thousand. As the operator types, the shared
// <datalist> fills with the vehicles that match (from /data/vehicles); the server resolves what is finally sent.
"use strict";

(() => {
  const options = document.getElementById("vehicle-options");
  if (!options) return;
  let timer = null;
  let asked = null;  // the last text asked for: answers to older questions are dropped

  async function suggest(text) {
    asked = text;
    let found = [];
    try {
      const response = await fetch("/data/vehicles?q=" + encodeURIComponent(text), { credentials: "same-origin" });
      if (!response.ok) return;  // e.g. the session ended: the field still takes a typed name
      found = await response.json();
    } catch (e) {
      return;  // offline for a moment: typing a full name still works
    }
    if (asked !== text) return;
    options.replaceChildren(...found.map((v) => {
      const option = document.createElement("option");
      option.value = v.name;
      option.label = [v.fleet_number && "fleet no. " + v.fleet_number, v.plate, v.fleet].filter(Boolean).join(" · ");
      return option;
    }));
  }

  // A form on its way needs no more suggestions: a late question would only be cut off by the next page.
  document.addEventListener("submit", () => clearTimeout(timer));

  for (const field of document.querySelectorAll("input[data-vehicle-search]")) {
    field.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => suggest(field.value.trim()), 150);
    });
    field.addEventListener("focus", () => suggest(field.value.trim()), { once: true });
  }
})();
