// Firmware page: an image upload goes to the REST API (PUT /api/v1/firmware, streamed), with the session's CSRF token.
(function () {
  const form = document.getElementById("upload-image");
  if (!form) return;
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) { status.textContent = "choose the firmware file first"; return; }
    const query = new URLSearchParams({ filename: file.name });
    for (const name of ["name", "version", "vendor", "model"]) {
      const value = form.elements[name].value.trim();
      if (value) query.set(name, value);
    }
    status.textContent = `uploading ${file.name} …`;
    const answer = await fetch(`/api/v1/firmware?${query}`, {
      method: "PUT",
      body: file,
      headers: { "X-CSRF-Token": evscada.csrf, "Content-Type": "application/octet-stream" },
    });
    const body = await answer.json().catch(() => ({}));
    if (answer.ok) {
      location.href = `/firmware?message=${encodeURIComponent(`image ${body.name} ${body.version} uploaded (${body.size} bytes)`)}`;
      return;
    }
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => `${d.loc.slice(-1)[0]}: ${d.msg}`).join("; ") : body.detail;
    status.textContent = `upload refused: ${detail || answer.status}`;
  });
})();
