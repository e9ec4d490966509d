"""The core's services bundled for the edges (gateway, API, CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from evscada.core.access import AccessService
from evscada.core.audit import Auditor, AuditService
from evscada.core.authorization import AuthorizationService
from evscada.core.commands import CommandService, StationCommander
from evscada.core.meter_values import MeterValueService
from evscada.core.ports import Clock, EventBus, PasswordHasher, Store
from evscada.core.queries import QueryService
from evscada.core.sites import SiteService
from evscada.core.station_messages import StationMessageService
from evscada.core.stations import StationService
from evscada.core.transactions import TransactionService
from evscada.core.vehicles import VehicleService


@dataclass(frozen=True, slots=True)
class CoreConfig:
    heartbeat_interval: int = 300
    register_unknown_stations: bool = False
    allow_concurrent_transactions: bool = False
    accepted_data_transfer_vendors: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Core:
    stations: StationService
    authorization: AuthorizationService
    transactions: TransactionService
    meter_values: MeterValueService
    messages: StationMessageService
    commands: CommandService
    access: AccessService
    queries: QueryService
    sites: SiteService
    vehicles: VehicleService
    clock: Clock
    audit: AuditService

    @classmethod
    def build(
        cls,
        *,
        store: Store,
        bus: EventBus,
        clock: Clock,
        hasher: PasswordHasher,
        commander: StationCommander,
        config: CoreConfig,
    ) -> Core:
        audit = Auditor(clock=clock)
        authorization = AuthorizationService(
            store=store, clock=clock, allow_concurrent_transactions=config.allow_concurrent_transactions, audit=audit
        )
        return cls(
            stations=StationService(
                store=store,
                bus=bus,
                clock=clock,
                hasher=hasher,
                heartbeat_interval=config.heartbeat_interval,
                register_unknown=config.register_unknown_stations,
                audit=audit,
            ),
            authorization=authorization,
            transactions=TransactionService(store=store, bus=bus, clock=clock, authorization=authorization),
            meter_values=MeterValueService(store=store, bus=bus, clock=clock),
            messages=StationMessageService(
                store=store, bus=bus, clock=clock, accepted_data_transfer_vendors=config.accepted_data_transfer_vendors
            ),
            commands=CommandService(store=store, bus=bus, clock=clock, commander=commander, audit=audit),
            access=AccessService(store=store, clock=clock, hasher=hasher, audit=audit),
            queries=QueryService(store=store, clock=clock),
            sites=SiteService(store=store, audit=audit),
            vehicles=VehicleService(store=store, audit=audit),
            clock=clock,
            audit=AuditService(store=store),
        )
