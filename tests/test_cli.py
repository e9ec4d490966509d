"""The command line, as an operator uses it: effects checked in the database, errors said plainly."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from evscada.cli import main


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("EVSCADA_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.delenv("EVSCADA_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "migrate", "station", "token", "cert", "demo", "simulate"):
        assert command in out


def test_migrate_creates_the_schema(database: Path) -> None:
    assert main(["migrate"]) == 0
    tables = {row[0] for row in _rows(database, "select name from sqlite_master where type in ('table', 'view')")}
    assert {"stations", "transactions", "meter_samples", "command_log", "alembic_version"} <= tables


def test_station_add_stores_a_hashed_password(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "add", "CP-9", "--profile", "1", "--password", "s3cret-s3cret-s3cret"]) == 0
    ((registration, profile, password_hash),) = _rows(
        database, "select registration, security_profile, password_hash from stations where id='CP-9'"
    )
    assert (registration, profile) == ("Accepted", 1)
    assert str(password_hash).startswith("$argon2id$") and "s3cret" not in str(password_hash)
    assert "CP-9 registered" in capsys.readouterr().out


def test_adding_a_station_twice_fails_with_a_clear_message(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "add", "CP-9"]) == 0
    assert main(["station", "add", "CP-9"]) == 1
    err = capsys.readouterr().err
    assert "already registered" in err and "Traceback" not in err


def test_profile_1_without_a_password_is_refused(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "add", "CP-9", "--profile", "1"]) == 1
    assert "needs a password" in capsys.readouterr().err


def test_station_accept_and_list(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "add", "CP-P", "--pending"]) == 0
    assert main(["station", "accept", "CP-P"]) == 0
    assert _rows(database, "select registration from stations where id='CP-P'") == [("Accepted",)]
    assert main(["station", "list"]) == 0
    assert "CP-P" in capsys.readouterr().out
    assert main(["station", "accept", "NOPE"]) == 1
    assert "not registered" in capsys.readouterr().err


def test_token_add_stores_status_expiry_and_group(database: Path) -> None:
    assert (
        main(["token", "add", "04AABB", "--status", "Blocked", "--expires", "2027-01-31T00:00:00Z", "--group", "FLEET"])
        == 0
    )
    ((status, expires, group),) = _rows(
        database, "select status, expires_at, group_id from tokens where value='04AABB'"
    )
    assert (status, group) == ("Blocked", "FLEET")
    assert str(expires).startswith("2027-01-31 00:00:00")
    assert main(["token", "add", "04AABB"]) == 0  # updating keeps one row, now Accepted
    assert _rows(database, "select status from tokens") == [("Accepted",)]


def test_a_bad_expiry_date_is_explained(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["token", "add", "X", "--expires", "next tuesday"])
    assert exited.value.code == 2
    assert "not an ISO 8601 date-time" in capsys.readouterr().err


def test_cert_dev_writes_a_usable_pair(database: Path, tmp_path: Path) -> None:
    import ssl

    assert main(["cert", "dev", "--out", str(tmp_path / "tls"), "--host", "localhost"]) == 0
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")  # raises if unusable
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o077 == 0  # the key is private


def test_invalid_settings_are_reported_not_raised(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVSCADA_OCPP_PORT", "not-a-port")
    assert main(["migrate"]) == 2
    assert "ocpp_port" in capsys.readouterr().err
    monkeypatch.delenv("EVSCADA_OCPP_PORT")
    monkeypatch.setenv("EVSCADA_CONFIG", "/nonexistent/evscada.toml")
    assert main(["migrate"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_settings_come_from_a_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evscada.settings import Settings

    config = tmp_path / "site.toml"
    config.write_text("heartbeat_interval = 42\nregister_unknown_stations = true\n")
    monkeypatch.setenv("EVSCADA_CONFIG", str(config))
    monkeypatch.setenv("EVSCADA_HEARTBEAT_INTERVAL", "77")  # the environment wins over the file
    settings = Settings()
    assert (settings.heartbeat_interval, settings.register_unknown_stations) == (77, True)


@pytest.fixture
def default_ports_taken() -> Iterator[None]:
    """The default OCPP and HTTP ports held on 127.0.0.1, as a running demo holds them: a test that starts a
    server must not need them. A port someone else already holds is busy anyway and left alone."""
    from evscada.settings import Settings

    with contextlib.ExitStack() as held:
        for name in ("ocpp_port", "ocpp_tls_port", "http_port"):
            with contextlib.suppress(OSError):
                held.enter_context(socket.create_server(("127.0.0.1", Settings.model_fields[name].default)))
        yield


async def test_serve_starts_and_stops_on_sigint(database: Path, default_ports_taken: None) -> None:
    import os
    import signal
    import sys

    listen = {"EVSCADA_OCPP_HOST": "127.0.0.1", "EVSCADA_OCPP_PORT": "0", "EVSCADA_OCPP_TLS_PORT": "0"}
    listen |= {"EVSCADA_HTTP_HOST": "127.0.0.1", "EVSCADA_HTTP_PORT": "0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evscada",
        "serve",
        env={**os.environ, **listen},
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    seen = b""
    while b"evscada is running" not in seen:
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        assert line, seen.decode()
        seen += line
    assert await _every_printed_address_answers(seen.decode()) >= 1  # the API reference
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 20) == 0


async def test_every_address_simulate_prints_for_its_control_surface_answers(database: Path) -> None:
    import os
    import signal
    import sys

    with socket.create_server(("127.0.0.1", 0)) as closed:
        nowhere = closed.getsockname()[1]  # the stations retry; the control surface serves meanwhile
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evscada",
        "simulate",
        "--url",
        f"ws://127.0.0.1:{nowhere}/ocpp",
        "--stations",
        "1",
        "--control-port",
        "0",
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        line = b""
        while b"fault control:" not in line:
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            assert line
        assert await _every_printed_address_answers(line.decode()) == 2  # the station list and the reference
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 20)


async def _every_printed_address_answers(text: str) -> int:
    """GET every http:// address in `text`; a banner that points nowhere misleads the person reading it."""
    import re

    import httpx

    urls = set(re.findall(r"https?://[^\s)'\"]+", text))
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as client:
        for url in urls:
            answer = await client.get(url)
            assert answer.status_code == 200, f"{url} answered {answer.status_code}"
    return len(urls)


def test_migrate_twice_is_harmless(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.count("up to date") == 2
    assert len(_rows(database, "select version_num from alembic_version")) == 1


def test_station_add_keeps_profile_2_and_3_stations(database: Path) -> None:
    assert main(["station", "add", "CP-2", "--profile", "2", "--password", "a-long-station-secret"]) == 0
    assert main(["station", "add", "CP-3", "--profile", "3"]) == 0  # a client certificate, no password
    rows = _rows(database, "select id, security_profile, password_hash is not null from stations order by id")
    assert rows == [("CP-2", 2, 1), ("CP-3", 3, 0)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["station", "add", "X" * 49], "1 to 48 printable characters"),
        (["station", "add", "CP\x07"], "printable"),
        (["station", "add", "CP:1", "--profile", "1", "--password", "a-long-station-secret"], "contains ':'"),
        (["station", "add", "CP-2", "--profile", "2"], "needs a password"),
    ],
    ids=["too long", "control character", "colon with Basic Auth", "profile 2 without password"],
)
def test_a_station_that_could_never_connect_is_not_registered(
    database: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _rows(database, "select id from stations") == []


@pytest.mark.parametrize(
    "args",
    [
        ["station", "add", "CP-1", "--profile", "5"],
        ["token", "add", "T", "--status", "Sometimes"],
        ["token", "add", "T", "--expires", "2027-02-30T00:00:00Z"],
        ["station", "frobnicate"],
    ],
    ids=["profile out of range", "unknown status", "impossible date", "unknown action"],
)
def test_bad_arguments_exit_2_with_a_usage_message(
    database: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_an_unusable_database_url_is_reported_not_raised(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVSCADA_DATABASE_URL", "nosuchdb://somewhere/x")
    assert main(["station", "add", "CP-1"]) == 2
    err = capsys.readouterr().err
    assert "database_url is not usable" in err and "Traceback" not in err


def test_cert_dev_by_default_covers_localhost_in_var_tls(database: Path, tmp_path: Path) -> None:
    from cryptography import x509

    assert main(["cert", "dev"]) == 0  # the fixture made tmp_path the working directory
    certificate = x509.load_pem_x509_certificate((tmp_path / "var" / "tls" / "cert.pem").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def test_user_add_and_key_give_a_working_api_key(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    assert main(["user", "add", "billing", "--role", "viewer"]) == 0
    assert main(["user", "key", "billing", "--name", "billing-system"]) == 0
    key = capsys.readouterr().out.split("\n")[-3].strip()
    assert key.startswith("evs_") and len(key) > 40
    ((stored_hash, prefix),) = _rows(database, "select key_hash, prefix from api_keys")
    assert stored_hash == hashlib.sha256(key.encode()).hexdigest() and key.startswith(prefix)  # only the hash is kept
    assert main(["user", "add", "billing"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["user", "key", "nobody"]) == 1
    assert "no user nobody" in capsys.readouterr().err


def test_null_in_the_environment_turns_optional_listeners_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from evscada.settings import Settings

    monkeypatch.setenv("EVSCADA_HTTP_PORT", "null")
    monkeypatch.setenv("EVSCADA_WEBSOCKET_PING_INTERVAL", "null")
    settings = Settings()
    assert settings.http_port is None and settings.websocket_ping_interval is None


@pytest.mark.parametrize(
    ("busy", "free", "explained"),
    [
        ("HTTP", "OCPP", "cannot listen"),
        ("OCPP", "HTTP", "stations cannot be served on ws://127.0.0.1:"),
    ],
)
def test_a_busy_port_is_explained_not_a_traceback(
    database: Path,
    default_ports_taken: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    busy: str,
    free: str,
    explained: str,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        monkeypatch.setenv(f"EVSCADA_{busy}_HOST", "127.0.0.1")
        monkeypatch.setenv(f"EVSCADA_{busy}_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv(f"EVSCADA_{free}_PORT", "0")
        assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert explained in err and f"EVSCADA_{busy}_PORT" in err and "Traceback" not in err


def test_command_line_changes_are_audited_as_cli(database: Path) -> None:
    assert main(["station", "add", "CP-9", "--profile", "1", "--password", "s3cret-s3cret-s3cret"]) == 0
    assert main(["token", "add", "CARD-9"]) == 0
    assert main(["user", "add", "root", "--role", "admin", "--password", "pa55word-root"]) == 0
    assert main(["user", "key", "root"]) == 0
    assert main(["station", "reject", "CP-9"]) == 0
    rows = _rows(database, "select actor, action, target_id, details from audit_log order by id")
    assert [(actor, action, target) for actor, action, target, _ in rows] == [
        ("cli", "station.create", "CP-9"),
        ("cli", "token.create", "CARD-9"),
        ("cli", "user.create", "root"),
        ("cli", "api_key.create", "1"),
        ("cli", "station.registration", "CP-9"),
    ]
    details = " ".join(str(row[3]) for row in rows)
    assert "s3cret" not in details and "pa55word" not in details


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no database configured: the default, or a demo running here, applies."""
    monkeypatch.delenv("EVSCADA_DATABASE_URL", raising=False)
    monkeypatch.delenv("EVSCADA_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _mark_demo(here: Path, database: Path, pid: int) -> None:
    (here / "var").mkdir(exist_ok=True)
    (here / "var" / "demo.running").write_text(f'{{"database_url": "sqlite+aiosqlite:///{database}", "pid": {pid}}}')


def test_commands_act_on_the_database_of_a_demo_running_here(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    _mark_demo(here, here / "demo.db", os.getpid())  # this process is alive: it plays the demo
    assert main(["user", "add", "billing"]) == 0
    assert _rows(here / "demo.db", "select username from users") == [("billing",)]
    assert not (here / "var" / "evscada.db").exists()
    assert f"using database sqlite+aiosqlite:///{here / 'demo.db'} (the demo's" in capsys.readouterr().err


def test_a_marker_left_by_a_dead_demo_is_ignored(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    _mark_demo(here, here / "demo.db", int(finished.stdout))  # a demo killed with -9 leaves its marker
    assert main(["station", "add", "CP-1"]) == 0
    assert _rows(here / "var" / "evscada.db", "select id from stations") == [("CP-1",)]
    assert not (here / "demo.db").exists()
    assert "using database sqlite+aiosqlite:///var/evscada.db (the default" in capsys.readouterr().err


def test_a_database_set_in_the_settings_wins_over_a_running_demo_and_says_so(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    _mark_demo(database.parent, database.parent / "demo.db", os.getpid())
    assert main(["token", "add", "CARD-1"]) == 0
    assert _rows(database, "select value from tokens") == [("CARD-1",)]
    err = capsys.readouterr().err
    assert f"using database sqlite+aiosqlite:///{database} (from the settings; the demo running here uses" in err


@pytest.mark.parametrize(
    "args",
    [["migrate"], ["station", "add", "CP-1"], ["station", "list"], ["token", "add", "T"], ["user", "add", "u"]],
    ids=["migrate", "station add", "station list", "token add", "user add"],
)
def test_every_command_that_touches_the_database_says_which_on_stderr(
    database: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"evscada: using database sqlite+aiosqlite:///{database} (from the settings)" in captured.err
    assert "using database" not in captured.out  # scripts reading stdout (a key, a listing) are not disturbed
