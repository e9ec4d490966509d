"""A tiny HTTP control surface for people: inject and clear faults in a running simulated fleet.

    POST   /stations/{id}/faults  {"kind": "ground_failure", "connector": 1, "duration": 60}
    DELETE /stations/{id}/faults  (?kind=ground_failure; without: every fault)
    POST   /faults                {"kind": "connection_drop", "share": 0.5, "duration": 10}  (a reconnect storm)
    DELETE /faults
    GET    /stations              each station's version, connection and faults
    GET    /docs                  a page to do the same by hand (self-contained: it works without internet)

It listens on 127.0.0.1 only: anyone who reaches it can break the fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from evscada.simulator.faults import FaultKind
from evscada.simulator.fleet import Fleet


class StationFault(BaseModel):
    kind: FaultKind
    connector: int | None = Field(None, ge=1)
    duration: float | None = Field(None, gt=0, description="seconds until it clears; absent: until DELETE")


class FleetFault(BaseModel):
    kind: FaultKind
    share: float = Field(gt=0, le=1, description="share of the fleet, chosen at random")
    duration: float | None = Field(None, gt=0)


def control_app(fleet: Fleet) -> FastAPI:
    # No Swagger UI: it would load from a CDN, and the simulator knows nothing of the CSMS's vendored copy.
    app = FastAPI(title="evscada simulator control", docs_url=None, redoc_url=None, openapi_url="/openapi.json")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        kinds = "".join(f'<option value="{kind.value}">{kind.value}</option>' for kind in FaultKind)
        return HTMLResponse(CONTROL_PAGE.replace("{kinds}", kinds))

    def known(station_id: str) -> None:
        if station_id not in fleet.stations:
            raise HTTPException(404, f"no simulated station {station_id}")

    @app.get("/stations")
    async def stations() -> list[dict[str, Any]]:
        return [
            {
                "id": s.spec.station_id,
                "version": s.spec.version,
                "online": s.uplink.online,
                "queued": len(s.uplink.queue),
                "faults": {str(n): kind.value for n, kind in s.faults().items()},
            }
            for s in fleet.stations.values()
        ]

    @app.post("/stations/{station_id}/faults", status_code=202)
    async def inject(station_id: str, fault: StationFault) -> dict[str, Any]:
        known(station_id)
        station = fleet.station(station_id)
        if fault.connector is not None and fault.connector not in station.connectors:
            raise HTTPException(422, f"{station_id} has no connector {fault.connector}")
        if not station.inject(fault.kind, connector=fault.connector, duration=fault.duration):
            raise HTTPException(409, f"{station_id} is not running")
        return {"station": station_id, "kind": fault.kind.value}

    @app.delete("/stations/{station_id}/faults")
    async def clear(station_id: str, kind: FaultKind | None = None) -> dict[str, Any]:
        known(station_id)
        return {"cleared": fleet.clear(kind, station=station_id)}

    @app.post("/faults", status_code=202)
    async def inject_many(fault: FleetFault) -> dict[str, Any]:
        return {"stations": fleet.inject(fault.kind, share=fault.share, duration=fault.duration)}

    @app.delete("/faults")
    async def clear_all(kind: FaultKind | None = None) -> dict[str, Any]:
        return {"cleared": fleet.clear(kind)}

    return app


# The hand-held control page: plain HTML and a few lines of script against the JSON routes above, nothing fetched
# from elsewhere. Every answer, error or not, is shown as the server gave it.
CONTROL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>evscada simulator: faults</title>
<style>body{font:15px system-ui,sans-serif;margin:1rem;max-width:60rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}form{margin:.6rem 0;display:flex;flex-wrap:wrap;
gap:.4rem;align-items:center}pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}</style></head>
<body><h1>Simulated stations: faults</h1>
<p>The reference is <a href="/openapi.json">/openapi.json</a>; docs/simulator.md explains each fault.</p>
<form id="one"><b>Station</b><input name="station" placeholder="station id" required>
<select name="kind">{kinds}</select><input name="connector" type="number" min="1" placeholder="connector">
<input name="duration" type="number" min="1" placeholder="seconds (empty: until cleared)">
<button>Inject</button><button type="button" id="clear-one">Clear</button></form>
<form id="many"><b>Share of the fleet</b><select name="kind">{kinds}</select>
<input name="share" type="number" min="0.01" max="1" step="0.01" value="0.5" required>
<input name="duration" type="number" min="1" placeholder="seconds"><button>Inject</button>
<button type="button" id="clear-all">Clear every fault</button></form>
<pre id="answer">Answers appear here.</pre>
<table><thead><tr><th>Station</th><th>OCPP</th><th>Online</th><th>Queued</th><th>Faults</th></tr></thead>
<tbody id="rows"></tbody></table>
<script>
"use strict";
const answer = document.getElementById("answer");
const number = (v) => (v === "" ? null : Number(v));
const text = (v) => String(v).replace(/[&<>]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c]));
async function call(method, url, body) {
  const r = await fetch(url, {method, headers: {"Content-Type": "application/json"},
    body: body ? JSON.stringify(body) : undefined});
  answer.textContent = method + " " + url + " -> " + r.status + "\\n" + await r.text();
  refresh();
}
async function refresh() {
  const r = await fetch("/stations");
  if (!r.ok) return;
  document.getElementById("rows").innerHTML = (await r.json()).map((s) =>
    `<tr><td>${text(s.id)}</td><td>${text(s.version)}</td><td>${s.online ? "yes" : "no"}</td>` +
    `<td>${s.queued}</td><td>${text(Object.entries(s.faults).map(([n, k]) => n + ": " + k).join(", "))}</td></tr>`
  ).join("");
}
const one = document.getElementById("one");
const station = () => "/stations/" + encodeURIComponent(one.station.value) + "/faults";
one.addEventListener("submit", (e) => { e.preventDefault();
  call("POST", station(), {kind: one.kind.value, connector: number(one.connector.value),
    duration: number(one.duration.value)}); });
document.getElementById("clear-one").addEventListener("click", () => call("DELETE", station()));
const many = document.getElementById("many");
many.addEventListener("submit", (e) => { e.preventDefault();
  call("POST", "/faults", {kind: many.kind.value, share: number(many.share.value),
    duration: number(many.duration.value)}); });
document.getElementById("clear-all").addEventListener("click", () => call("DELETE", "/faults"));
refresh(); setInterval(refresh, 3000);
</script></body></html>
"""


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGINT/SIGTERM belong to the command that runs the fleet (`evscada simulate`, `evscada demo`)


class ControlServer:
    """Uvicorn inside the fleet's own event loop, on 127.0.0.1 only."""

    def __init__(self, app: FastAPI, *, port: int) -> None:
        self.port = port
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # We bind the socket ourselves: uvicorn answers a failed bind with sys.exit, which escapes the event loop.
        try:
            sock = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        except OSError as exc:
            raise OSError(
                f"the fault control surface cannot listen on 127.0.0.1:{self.port} ({exc.strerror}); "
                "choose another --control-port"
            ) from None
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="simulator-control")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the control surface stopped while starting; see the log above")
            await asyncio.sleep(0.01)

    def banner(self) -> str:
        """The line to print; only addresses that answer a GET (the injecting ones take POST and DELETE)."""
        base = f"http://127.0.0.1:{self.port}"
        return (
            f"fault control: {base}/stations lists the stations, POST /stations/<id>/faults injects "
            f"(reference: {base}/docs and docs/simulator.md)"
        )

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None


async def start_control(fleet: Fleet, port: int) -> ControlServer:
    """Serve the control surface on 127.0.0.1:port (0: any free port; `.port` says which)."""
    server = ControlServer(control_app(fleet), port=port)
    await server.start()
    return server
