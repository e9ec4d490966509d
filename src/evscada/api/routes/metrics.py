"""Prometheus metrics: what a monitoring system scrapes from every node."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from evscada.api.deps import Context

router = APIRouter(tags=["operations"])


class _Snapshot(Collector):
    """Metric families gathered for one scrape (no global registry: several apps may share a process)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(context: Context) -> Response:
    """Prometheus text format. No authentication, like most exporters: restrict it at the proxy if needed."""
    connected = GaugeMetricFamily(
        "evscada_stations_connected", "Stations connected to this node", labels=["ocpp_version"]
    )
    for version, count in sorted(context.connected_by_version().items()):
        connected.add_metric([version], count)
    messages = CounterMetricFamily(
        "evscada_ocpp_messages", "OCPP calls received from stations", labels=["ocpp_version", "action"]
    )
    for (version, action), count in sorted(context.message_counts.items()):
        messages.add_metric([version, action], count)
    refused = CounterMetricFamily(
        "evscada_ocpp_handshakes_refused", "OCPP connections refused at the handshake, by reason", labels=["reason"]
    )
    for reason, count in sorted(context.handshake_refusals.items()):
        refused.add_metric([reason], count)
    outcomes = CounterMetricFamily(
        "evscada_commands", "Commands sent to stations, by outcome", labels=["command", "outcome"]
    )
    latency = GaugeMetricFamily("evscada_database_latency_seconds", "Time of one small query during this scrape")
    core = context.core
    for command, outcome, count in await core.queries.command_outcomes():
        outcomes.add_metric([command, outcome], count)
    latency.add_metric([], await core.queries.database_latency())
    body = generate_latest(_Snapshot([connected, messages, refused, outcomes, latency]))  # type: ignore[arg-type]
    return Response(body, media_type=CONTENT_TYPE_LATEST)
