"""Command line: `evscada serve [--role all|gateway|api] | migrate | station add | token add | cert dev`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from evscada import __version__
from evscada.core.access.audit import CLI
from evscada.core.access.users import Role
from evscada.core.errors import DomainError
from evscada.core.model import AuthorizationStatus, RegistrationStatus, SecurityProfile, StationId, Token
from evscada.logs import collapse_repeated_errors
from evscada.settings import Settings

Command = Callable[[argparse.Namespace, Settings], Awaitable[int] | int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evscada",
        description="evscada: OCPP 1.6-J / 2.0.1 charging station management system. Settings come from "
        "EVSCADA_* environment variables and the TOML file named by --config (default ./evscada.toml).",
    )
    parser.add_argument("--version", action="version", version=f"evscada {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file (sets EVSCADA_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the CSMS: OCPP gateway (ws/wss) and REST API until Ctrl-C")
    serve.add_argument(
        "--role",
        choices=("all", "gateway", "api"),
        dest="cluster_role",
        help="in a cluster (cluster.redis_url set): gateway holds stations, api serves HTTP; all (default) both",
    )
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date (serve does it on start)")
    migrate.set_defaults(run=_migrate)

    _add_station_parser(commands)

    token = commands.add_parser("token", help="manage idTags / idTokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    token_add = token.add_parser("add", help="register or update an idTag / idToken")
    token_add.add_argument("value", help="the idTag (1.6) / idToken (2.0.1), e.g. an RFID UID")
    token_add.add_argument(
        "--type",
        default="ISO14443",
        help="idToken type: ISO14443, ISO15693, eMAID, KeyCode, Local, MacAddress, Central ...",
    )
    token_add.add_argument("--status", default="Accepted", choices=["Accepted", "Blocked", "Expired", "Invalid"])
    token_add.add_argument("--expires", type=_utc_datetime, help="expiry, ISO 8601 (e.g. 2027-01-31T00:00:00Z)")
    token_add.add_argument("--group", help="group / parent idTag")
    token_add.set_defaults(run=_token_add)

    _add_user_parser(commands)
    _add_upstream_key_parser(commands)

    demo = commands.add_parser("demo", help="run the CSMS with a simulated fleet on its own demo database")
    demo.add_argument("--stations", type=int, default=28, help="number of simulated stations (default 28)")
    demo.add_argument("--reset", action="store_true", help="start from an empty demo database")
    demo.add_argument("--database", help="database URL (default sqlite+aiosqlite:///var/demo.db)")
    demo.add_argument("--control-port", type=int, help="serve the fault control surface on 127.0.0.1:PORT")
    demo.add_argument("--no-faults", action="store_true", help="leave out the built-in fault plan")
    demo.set_defaults(run=_demo)

    simulate = commands.add_parser("simulate", help="connect simulated stations to a CSMS (ours or another)")
    simulate.add_argument("--url", default="ws://127.0.0.1:9000/ocpp", help="base URL; the station id is appended")
    simulate.add_argument("--stations", type=int, default=10, help="how many stations (default 10)")
    simulate.add_argument("--prefix", default="SIM", help="station id prefix (default SIM: SIM-0001 ...)")
    simulate.add_argument("--v201-share", type=float, default=0.5, help="share of 2.0.1 stations, 0..1 (default 0.5)")
    simulate.add_argument("--password", help="Basic Auth password for every station (security profile 1/2)")
    simulate.add_argument("--token", action="append", help="idTag the vehicles present (repeatable; default SIM-TOKEN)")
    simulate.add_argument("--ramp-up", type=float, default=50, help="stations connecting per second (default 50)")
    simulate.add_argument("--faults", type=Path, help="a fault plan (TOML, see docs/simulator.md)")
    simulate.add_argument("--control-port", type=int, help="serve the fault control surface on 127.0.0.1:PORT")
    simulate.add_argument("--load", action="store_true", help="load mode: lean links, progress and a summary")
    simulate.add_argument("--duration", type=float, help="load mode: stop after this many seconds (default: Ctrl-C)")
    simulate.add_argument("--sessions", type=int, help="load mode: sessions per station, then it leaves")
    simulate.add_argument(
        "--pace", type=float, default=1.0, help="load mode: seconds between meter values and between sessions"
    )
    simulate.add_argument("--meters", type=int, default=5, help="load mode: meter values per session (default 5)")
    simulate.set_defaults(run=_simulate)

    cert = commands.add_parser("cert", help="certificates").add_subparsers(
        dest="cert_command", required=True, metavar="ACTION"
    )
    dev = cert.add_parser("dev", help="make a self-signed certificate to try wss:// locally")
    dev.add_argument("--out", type=Path, default=Path("var/tls"), help="directory (default var/tls)")
    dev.add_argument(
        "--host",
        action="append",
        help="host name or IP it is valid for (repeatable; default: localhost, 127.0.0.1 and this host's name)",
    )
    dev.set_defaults(run=_cert_dev)
    return parser


def _add_station_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    station = commands.add_parser("station", help="manage charging stations").add_subparsers(
        dest="station_command", required=True, metavar="ACTION"
    )
    add = station.add_parser("add", help="register a station so it may connect")
    add.add_argument("station_id", help="the id the station puts at the end of its URL")
    add.add_argument(
        "--profile",
        type=int,
        choices=[0, 1, 2, 3],
        default=0,
        help="security profile: 0 none, 1 Basic Auth, 2 TLS + Basic Auth, 3 mutual TLS (default 0)",
    )
    add.add_argument("--password", help="Basic Auth password (profiles 1 and 2); stored hashed")
    add.add_argument("--pending", action="store_true", help="register as Pending: it connects but may not charge")
    add.set_defaults(run=_station_add)
    accept = station.add_parser("accept", help="accept a Pending station (it is told at its next BootNotification)")
    accept.add_argument("station_id")
    accept.set_defaults(run=_station_accept, registration=RegistrationStatus.ACCEPTED)
    reject = station.add_parser("reject", help="reject a station: its BootNotification is answered Rejected")
    reject.add_argument("station_id")
    reject.set_defaults(run=_station_accept, registration=RegistrationStatus.REJECTED)
    listing = station.add_parser("list", help="list registered stations with their state")
    listing.set_defaults(run=_station_list)


def _add_user_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    user = commands.add_parser("user", help="manage users and API keys").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    user_add = user.add_parser("add", help="create a user (the first admin, an operator, a viewer)")
    user_add.add_argument("username")
    user_add.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default="viewer",
        help="viewer: reads; operator: reads and commands; admin: everything (default viewer)",
    )
    user_add.add_argument("--password", help="to log in to the web console; API access uses keys")
    user_add.set_defaults(run=_user_add)
    user_key = user.add_parser("key", help="make an API key for a user (shown once)")
    user_key.add_argument("username")
    user_key.add_argument("--name", default="cli", help="what the key is for, e.g. billing-system")
    user_key.set_defaults(run=_user_key)


def _add_upstream_key_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    key = commands.add_parser(
        "upstream-key", help="rotate the key sealing the OCPP proxy's upstream passwords (upstream_key_file)"
    ).add_subparsers(dest="upstream_key_command", required=True, metavar="ACTION")
    rotate = key.add_parser(
        "rotate", help="one machine: a new key, every stored upstream password sealed again with it, old keys dropped"
    )
    rotate.set_defaults(run=_upstream_key_rotate)
    add = key.add_parser("add", help="a cluster, step 1: a new key seals from now on; the old keys stay to open")
    add.set_defaults(run=_upstream_key_add)
    drop = key.add_parser(
        "drop-old", help="a cluster, step 2: every password sealed again with the first key, the other keys dropped"
    )
    drop.set_defaults(run=_upstream_key_drop_old)


def _utc_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config is not None:
        os.environ["EVSCADA_CONFIG"] = str(args.config)
    # `serve --role` overrides cluster.role from the file or the environment; the rest of [cluster] stays.
    overrides = {"cluster": {"role": args.cluster_role}} if getattr(args, "cluster_role", None) else {}
    try:
        settings = Settings(**overrides)
    except (ValidationError, FileNotFoundError) as exc:
        print(f"evscada: the settings are not valid:\n{exc}\nSee docs/configuration.md.", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    collapse_repeated_errors()  # a database fault repeats for every write: once a minute, with a count
    for chatty in ("websockets", "ocpp", "alembic"):  # a line per socket / per frame: only with log_level DEBUG
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        result = args.run(args, settings)
        return asyncio.run(result) if asyncio.iscoroutine(result) else int(result)
    except DomainError as exc:
        print(f"evscada: {exc.message}", file=sys.stderr)
        return 1
    except ArgumentError as exc:  # includes an unknown dialect in the URL
        print(f"evscada: database_url is not usable: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as exc:  # database unreachable, port taken, file not writable ...
        print(f"evscada: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from evscada.app import serve

    await serve(settings)
    return 0


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from evscada.storage.db import Database

    database = Database(_database_url(settings))
    try:
        await database.migrate()
    finally:
        await database.close()
    print("database schema is up to date")
    return 0


def _database_url(settings: Settings) -> str:
    """The database a command acts on, said on stderr: a demo running in this directory wins over the default."""
    from evscada.demo.marker import running_demo

    demo = running_demo()
    chosen = "database_url" in settings.model_fields_set  # by EVSCADA_DATABASE_URL or the TOML file
    if demo is not None and not chosen:
        url, why = demo.database_url, f"the demo's, running here as pid {demo.pid}"
    elif demo is not None:
        url, why = settings.database_url, f"from the settings; the demo running here uses {_shown(demo.database_url)}"
    else:
        url, why = settings.database_url, "from the settings" if chosen else "the default; no demo is running here"
    print(f"evscada: using database {_shown(url)} ({why})", file=sys.stderr)
    return url


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _with_app(settings: Settings, action: Callable[..., Awaitable[None]]) -> None:
    """Run one core action against the database `_database_url` picks, without opening the OCPP listener."""
    from evscada.app import build_core
    from evscada.bus.local import LocalBus
    from evscada.storage.db import Database
    from evscada.storage.store import SqlStore

    database = Database(_database_url(settings))
    try:
        await database.migrate()
        await action(build_core(settings, SqlStore(database), LocalBus()))
    finally:
        await database.close()


async def _station_add(args: argparse.Namespace, settings: Settings) -> int:
    async def add(core):  # type: ignore[no-untyped-def]
        await core.stations.register(
            station_id=StationId(args.station_id),
            security_profile=SecurityProfile(args.profile),
            password=args.password,
            registration=RegistrationStatus.PENDING if args.pending else RegistrationStatus.ACCEPTED,
            actor=CLI,
        )

    await _with_app(settings, add)
    print(f"station {args.station_id} registered (security profile {args.profile})")
    return 0


async def _station_accept(args: argparse.Namespace, settings: Settings) -> int:
    async def change(core):  # type: ignore[no-untyped-def]
        await core.stations.set_registration(
            station_id=StationId(args.station_id), registration=args.registration, actor=CLI
        )

    await _with_app(settings, change)
    print(f"station {args.station_id} is now {args.registration}")
    return 0


async def _station_list(args: argparse.Namespace, settings: Settings) -> int:
    found = []

    async def collect(core):  # type: ignore[no-untyped-def]
        found.extend(await core.stations.list())

    await _with_app(settings, collect)
    print(
        f"{'station':<24} {'registration':<12} {'profile':>7} {'online':<6} {'ocpp':<6} "
        f"{'vendor / model':<30} last seen"
    )
    for s in found:
        seen = s.last_seen.strftime("%Y-%m-%d %H:%M:%SZ") if s.last_seen else "never"
        model = f"{s.vendor or '?'} / {s.model or '?'}"
        print(
            f"{s.id:<24} {s.registration:<12} {int(s.security_profile):>7} {'yes' if s.online else 'no':<6} "
            f"{s.ocpp_version or '-':<6} {model:<30} {seen}"
        )
    print(f"{len(found)} station(s)")
    return 0


async def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    async def add(core):  # type: ignore[no-untyped-def]
        await core.access.add_user(username=args.username, role=Role(args.role), password=args.password, actor=CLI)

    await _with_app(settings, add)
    print(f"user {args.username} created ({args.role}); make an API key with: evscada user key {args.username}")
    return 0


async def _user_key(args: argparse.Namespace, settings: Settings) -> int:
    keys = []

    async def make(core):  # type: ignore[no-untyped-def]
        keys.append(await core.access.create_api_key(username=args.username, name=args.name, actor=CLI))

    await _with_app(settings, make)
    print(f"{keys[0]}\nthis is the only time the key is shown; send it as 'Authorization: Bearer <key>'")
    return 0


async def _upstream_key_rotate(args: argparse.Namespace, settings: Settings) -> int:
    await _upstream_key_add(args, settings)
    return await _upstream_key_drop_old(args, settings)


async def _upstream_key_add(args: argparse.Namespace, settings: Settings) -> int:
    from evscada.security.secret_box import add_new_key

    path = Path(settings.upstream_key_file)
    kept = await asyncio.to_thread(add_new_key, path)
    print(f"{path}: a new key now seals; the {kept} old key(s) still open what they sealed")
    if args.upstream_key_command == "add":
        print("copy this file to every evscada machine now, then run: evscada upstream-key drop-old")
    return 0


async def _upstream_key_drop_old(args: argparse.Namespace, settings: Settings) -> int:
    """Seal every stored upstream password with the file's first key, showing progress; then drop the others."""
    from evscada.security.secret_box import keep_only_first_key

    path = Path(settings.upstream_key_file)
    counted: list[int] = []

    def progress(done: int, total: int) -> None:
        print(f"\rsealed again: {done} of {total} upstream password(s)", end="", flush=True)

    async def reseal(core):  # type: ignore[no-untyped-def]
        counted.append(await core.upstream.reseal_passwords(progress))

    await _with_app(settings, reseal)
    print(f"\r{counted[0]} upstream password(s) now sealed with the first key of {path}")
    dropped = await asyncio.to_thread(keep_only_first_key, path)
    print(f"{path}: {dropped} old key(s) dropped")
    if args.upstream_key_command == "drop-old":
        print("copy this file to every evscada machine again")
    return 0


async def _token_add(args: argparse.Namespace, settings: Settings) -> int:
    token = Token(
        value=args.value,
        type=args.type,
        status=AuthorizationStatus(args.status),
        expires_at=args.expires,
        group_id=args.group,
    )

    async def add(core):  # type: ignore[no-untyped-def]
        await core.authorization.save_token(token=token, actor=CLI, keep_vehicle=True)

    await _with_app(settings, add)
    print(f"token {args.value} saved ({args.status})")
    return 0


def _cert_dev(args: argparse.Namespace, settings: Settings) -> int:
    from evscada.security.certificates import make_dev_certificate

    hosts = args.host or ["localhost", "127.0.0.1", socket.gethostname()]
    made = make_dev_certificate(args.out, hosts)
    print(
        f"wrote {made.cert_file} and {made.key_file} (self-signed, for {', '.join(hosts)}).\n"
        f"Use them with:\n  EVSCADA_TLS_CERT_FILE={made.cert_file} EVSCADA_TLS_KEY_FILE={made.key_file} evscada serve\n"
        f"and give stations {made.cert_file} as the CA to trust."
    )
    return 0


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from evscada.demo.marker import MARKER
    from evscada.demo.run import DEMO_DATABASE, run_demo
    from evscada.demo.world import LOCAL as DEMO_ZONE

    if args.stations < 1:
        print("evscada demo: --stations must be at least 1", file=sys.stderr)
        return 2
    # The demo never writes into the production database by accident: its own file unless told otherwise.
    url = args.database or f"sqlite+aiosqlite:///{DEMO_DATABASE}"
    update: dict[str, object] = {"database_url": url}
    if "operator_timezone" not in settings.model_fields_set:  # the demo's buses keep Berlin's timetable
        update["operator_timezone"] = DEMO_ZONE.key
    await run_demo(
        settings.model_copy(update=update),
        stations=args.stations,
        reset=args.reset,
        plan=[] if args.no_faults else None,
        control_port=args.control_port,
        marker=MARKER,
    )
    return 0


async def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from evscada.simulator.faults import PlanError, load_plan
    from evscada.simulator.station import StationSpec, Timing

    if args.stations < 1 or not 0.0 <= args.v201_share <= 1.0 or args.ramp_up <= 0:
        print("evscada simulate: --stations must be >= 1, --v201-share between 0 and 1, --ramp-up > 0", file=sys.stderr)
        return 2
    tokens = tuple(args.token or ["SIM-TOKEN"])
    every = round(1 / args.v201_share) if args.v201_share else 0
    versions = {
        f"{args.prefix}-{n:04d}": "2.0.1" if every and n % every == 0 else "1.6" for n in range(1, args.stations + 1)
    }
    try:
        plan = load_plan(args.faults) if args.faults else []
    except PlanError as exc:
        print(f"evscada simulate: {exc}", file=sys.stderr)
        return 2
    specs = [
        StationSpec(station_id=sid, version=version, password=args.password, tokens=tokens)
        for sid, version in versions.items()
    ]
    if args.load:
        return await _simulate_load(args, specs, plan)
    print(f"simulating {len(specs)} stations against {args.url}; Ctrl-C stops")
    await _run_simulated_fleet(args, specs, Timing(), plan)
    return 0


async def _run_simulated_fleet(args: argparse.Namespace, specs: list[Any], timing: Any, plan: list[Any]) -> None:
    from evscada.simulator.control import start_control
    from evscada.simulator.fleet import Fleet

    fleet = Fleet(args.url, specs, timing)
    control = await start_control(fleet, args.control_port) if args.control_port is not None else None
    if control is not None:
        print(control.banner(), flush=True)
    try:
        await fleet.run(ramp_per_second=args.ramp_up, plan=plan)
    finally:
        if control is not None:
            await control.stop()


async def _simulate_load(args: argparse.Namespace, specs: list[Any], plan: list[Any]) -> int:
    from evscada.simulator.load import load_timing, run_load, tune_garbage_collector

    if not args.url.startswith("ws://"):
        print("evscada simulate --load: the load mode speaks plain ws:// only", file=sys.stderr)
        return 2
    if args.pace < 0 or args.meters < 1 or (args.sessions is not None and args.sessions < 1):
        print("evscada simulate --load: --pace must be >= 0, --meters and --sessions >= 1", file=sys.stderr)
        return 2
    print(
        f"load: {len(specs)} stations (lean links) against {args.url}, {args.ramp_up:g}/s; Ctrl-C ends it", flush=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)  # Ctrl-C ends the run and still prints the summary
    tune_garbage_collector()
    stats = await run_load(
        args.url,
        specs,
        load_timing(pace=args.pace, meters_per_session=args.meters, sessions=args.sessions),
        ramp_per_second=args.ramp_up,
        duration=args.duration,
        plan=plan,
        control_port=args.control_port,
        stop=stop,
    )
    print("\n" + stats.summary())
    return 0
