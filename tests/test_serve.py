"""The path of `./run demo`, run for real: migrate, collectstatic, load_demo, gunicorn, db_worker.

Everything runs as separate processes on an SQLite file of its own in a temporary directory,
with the settings the demo uses (config.settings.base, BIHUAN_DEMO=1), and is spoken to over
HTTP with the standard library only, as a browser would: cookies, CSRF token, redirects.
The tests of this module share one server; the last one stops it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from bihuan.demo.data import DEMO_PASSWORD, USERS

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
START_SECONDS = 30
STOP_SECONDS = 10


@dataclass
class Servers:
    url: str
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]


@dataclass
class Site:
    root: Path
    env: dict[str, str]
    database: Path
    static_root: Path
    load_outputs: list[str] = field(default_factory=list)
    load_counts: list[dict[str, int]] = field(default_factory=list)
    servers: Servers | None = None


class _PageParser(HTMLParser):
    """The parts of a page these tests look at: stylesheets, scripts and form inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values["href"])
        elif tag == "script" and values.get("src"):
            self.scripts.append(values["src"])
        elif tag == "input" and values.get("name"):
            self.inputs.setdefault(values["name"], values.get("value", ""))


def _parse(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


def _manage(site: Site, *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _row_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log(site: Site, name: str) -> str:
    path = site.root / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _start(site: Site, name: str) -> Servers:
    """Start the web server and the task worker as ./run demo does; wait until /healthz answers."""
    port = _free_port()
    web = subprocess.Popen(
        [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "--graceful-timeout", "5"],
        cwd=ROOT,
        env=site.env,
        stdout=(site.root / f"{name}-web.log").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [PYTHON, "manage.py", "db_worker", "--no-reload", "--interval", "1"],
        cwd=ROOT,
        env=site.env,
        stdout=(site.root / f"{name}-worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    servers = Servers(f"http://127.0.0.1:{port}", web, worker)
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert web.poll() is None, f"gunicorn exited:\n{_log(site, f'{name}-web')}"
        assert worker.poll() is None, f"db_worker exited:\n{_log(site, f'{name}-worker')}"
        try:
            with urllib.request.urlopen(f"{servers.url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return servers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            _kill(servers)
            pytest.fail(f"/healthz did not answer within {START_SECONDS} s")
        time.sleep(0.2)


def _kill(servers: Servers) -> None:
    for process in (servers.web, servers.worker):
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


def _stop_within(servers: Servers, signum: signal.Signals) -> dict[str, float]:
    """Send the signal to both processes; how long each took to exit (fails past STOP_SECONDS)."""
    sent = time.monotonic()
    servers.web.send_signal(signum)
    servers.worker.send_signal(signum)
    taken: dict[str, float] = {}
    for name, process in (("gunicorn", servers.web), ("db_worker", servers.worker)):
        try:
            process.wait(timeout=max(0.1, sent + STOP_SECONDS - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(servers)
            pytest.fail(f"{name} was still running {STOP_SECONDS} s after {signum.name}")
        taken[name] = time.monotonic() - sent
    return taken


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _get(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str, bytes]:
    with opener.open(url, timeout=10) as response:
        return response.status, response.geturl(), response.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A demo site built from nothing in a temporary directory, served by gunicorn."""
    root = tmp_path_factory.mktemp("serve")
    database = root / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "BIHUAN_DEMO": "1",
        "DEBUG": "0",
        "STATIC_ROOT": str(root / "static"),
        "MEDIA_ROOT": str(root / "media"),
    }
    built = Site(root=root, env=env, database=database, static_root=root / "static")
    _manage(built, "migrate", "--no-input", "-v", "0")
    _manage(built, "collectstatic", "--no-input", "-v", "0")
    for _run in range(2):
        built.load_outputs.append(_manage(built, "load_demo"))
        built.load_counts.append(_row_counts(database))
    built.servers = _start(built, "main")
    yield built
    _kill(built.servers)


def _servers(site: Site) -> Servers:
    assert site.servers is not None
    return site.servers


def _created(output: str) -> dict[str, int]:
    found = re.search(r"created: ([^)]*)\)", output)
    assert found, output
    return {name: int(n) for name, n in (item.rsplit(" ", 1) for item in found[1].split(", "))}


def test_second_load_of_the_demo_creates_nothing(site: Site) -> None:
    first, second = (_created(output) for output in site.load_outputs)
    assert first["regions"] > 0
    assert first["users"] == len(USERS)
    assert set(second) == set(first)
    assert set(second.values()) == {0}
    assert site.load_counts[1] == site.load_counts[0]


def test_demo_database_file_is_in_wal_mode(site: Site) -> None:
    with sqlite3.connect(site.database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_health_check_answers_from_the_demo_database(site: Site) -> None:
    status, _url, body = _get(_opener(), f"{_servers(site).url}/healthz")
    answer = json.loads(body)
    assert status == 200
    assert answer["status"] == "ok"
    assert answer["database"] == "sqlite"


def test_login_page_links_the_collected_static_files(site: Site) -> None:
    opener = _opener()
    url = _servers(site).url
    status, _final, body = _get(opener, f"{url}/login/")
    page = _parse(body.decode())
    assert status == 200
    assert {"username", "password", "csrfmiddlewaretoken"} <= set(page.inputs)
    manifest = json.loads((site.static_root / "staticfiles.json").read_text())["paths"]
    expected = {
        "css/bihuan.css": page.stylesheets,
        "vendor/htmx.min.js": page.scripts,
        "js/bihuan.js": page.scripts,
    }
    for source, linked in expected.items():
        hashed = f"/static/{manifest[source]}"
        assert hashed in linked
        assert manifest[source] != source
        status, _final, served = _get(opener, f"{url}{hashed}")
        assert status == 200
        assert served == (ROOT / "static" / source).read_bytes()
    assert len(page.stylesheets) == 1 and len(page.scripts) == 2


@pytest.mark.parametrize(
    ("username", "display_name"), [(user[0], user[1]) for user in USERS], ids=[u[0] for u in USERS]
)
def test_demo_account_signs_in_with_the_demo_password(
    site: Site, username: str, display_name: str
) -> None:
    opener = _opener()
    url = _servers(site).url
    _status, _final, body = _get(opener, f"{url}/login/")
    token = _parse(body.decode()).inputs["csrfmiddlewaretoken"]
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": DEMO_PASSWORD, "next": ""}
    ).encode()

    with opener.open(f"{url}/login/", data=form, timeout=10) as response:
        status, final, home = response.status, response.geturl(), response.read().decode()

    assert (status, final) == (200, f"{url}/")
    assert display_name in home
    assert 'name="password"' not in home


def test_server_and_worker_stop_on_sigint(site: Site) -> None:
    servers = _start(site, "sigint")

    taken = _stop_within(servers, signal.SIGINT)

    print(f"\nSIGINT: stopped in {taken}")


def test_server_and_worker_stop_on_sigterm(site: Site) -> None:
    # Last of the module: it stops the shared server, which is what ./run demo sends on Ctrl-C.
    servers = _servers(site)

    taken = _stop_within(servers, signal.SIGTERM)

    print(f"\nSIGTERM: stopped in {taken}")
    assert "Traceback" not in _log(site, "main-web")
    assert "Traceback" not in _log(site, "main-worker")
