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
    proxied = CounterMetricFamily(
        "evscada_ocpp_proxy_messages",
        "OCPP proxy to upstream CSMSs: messages forwarded, held, replayed, skipped, dropped; commands passed, refused",
        labels=["kind"],
    )
    for kind, count in sorted(context.upstream_counts.items()):
        proxied.add_metric([kind], count)
    outcomes = CounterMetricFamily(
        "evscada_commands", "Commands sent to stations, by outcome", labels=["command", "outcome"]
    )
    latency = GaugeMetricFamily("evscada_database_latency_seconds", "Time of one small query during this scrape")
    core = context.core
    for command, outcome, count in await core.queries.command_outcomes():
        outcomes.add_metric([command, outcome], count)
    latency.add_metric([], await core.queries.database_latency())
    families: list[Metric] = [connected, messages, refused, proxied, outcomes, latency, *_bridges(context)]
    body = generate_latest(_Snapshot(families))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _bridges(context: Context) -> list[Metric]:
    """Per bridge: whether it is up, its backlog, what it dropped, published and was asked (docs/scada-bridges.md)."""
    up = GaugeMetricFamily(
        "evscada_bridge_up", "1 when the bridge is connected (MQTT) or listening (OPC UA, IEC 104)", labels=["bridge"]
    )
    queued = GaugeMetricFamily("evscada_bridge_backlog", "Items waiting in the bridge's backlog", labels=["bridge"])
    dropped = CounterMetricFamily(
        "evscada_bridge_dropped",
        "Items dropped from the bridge's full backlog (its own, never stations')",
        labels=["bridge"],
    )
    published = CounterMetricFamily(
        "evscada_bridge_published",
        "Items the bridge delivered (MQTT publications, OPC UA value writes)",
        labels=["bridge"],
    )
    received = CounterMetricFamily("evscada_bridge_commands", "Commands received through the bridge", labels=["bridge"])
    for health in context.bridges():
        up.add_metric([health.name], 1 if health.state in ("connected", "listening") else 0)
        queued.add_metric([health.name], health.queued)
        dropped.add_metric([health.name], health.dropped)
        published.add_metric([health.name], health.published)
        received.add_metric([health.name], health.commands)
    return [up, queued, dropped, published, received]
