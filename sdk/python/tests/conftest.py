"""Fixtures: real tresor servers (the binary named by TRESOR_BIN, else the workspace's debug build),
started for the tests and stopped after them; every value a test stores comes from ``values`` and
is looked for in every server's log at the end of the session."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import httpx
import pytest

import tresor

REPO = Path(__file__).resolve().parents[3]
# Every value the tests store starts with this, so that a log holding one is easy to find.
VALUE_MARK = "py-sdk-value-"


def tresor_bin() -> Optional[str]:
    given = os.environ.get("TRESOR_BIN")
    if given:
        return given
    built = REPO / "target" / "debug" / "tresor"
    return str(built) if built.exists() else None


def server_env(extra: Dict[str, str]) -> Dict[str, str]:
    """This process's environment without its TRESOR_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    env.update({"TRESOR_LOG": "debug", "NO_COLOR": "1"})
    env.update(extra)
    return env


class Server:
    """``tresor init`` and ``tresor serve`` on a loopback port, logging to ``log``."""

    def __init__(self, binary: str, home: Path, log: Path, env: Dict[str, str], args: Sequence[str] = ()) -> None:
        self.log = log
        self.ca_cert: Optional[str] = None
        data = home / "data"
        out = subprocess.run(
            [binary, "init", "--json", "--data-dir", str(data)],
            env=server_env({}),
            capture_output=True,
            check=True,
        )
        self.token: str = json.loads(out.stdout)["admin_token"]
        with open(log, "wb") as sink:
            self.process = subprocess.Popen(
                [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data), *args],
                env=server_env(env),
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        self.addr = self._listening()

    def _listening(self) -> str:
        says = "tresor listening on "
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.log_text()
            if says in text:
                return text.split(says, 1)[1].split()[0]
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the server did not start; its log:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def admin(self, method: str, path: str, body: Optional[dict] = None) -> httpx.Response:
        """A native API call with the admin token."""
        verify = self.ca_cert or True
        with httpx.Client(base_url=self.addr, verify=verify) as http:
            return http.request(method, path, json=body, headers={"Authorization": f"Bearer {self.token}"})

    def principal(self, name: str, grants: Sequence[Tuple[str, str]] = ()) -> str:
        """Creates ``name`` with ``grants`` (scope, access) and returns a token of it."""
        assert self.admin("POST", "/api/v1/principals", {"principal": name}).status_code == 201
        for scope, access in grants:
            r = self.admin("POST", "/api/v1/grants", {"principal": name, "scope": scope, "access": access})
            assert r.status_code == 201, r.text
        r = self.admin("POST", "/api/v1/tokens", {"principal": name, "name": "sdk-test"})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    def client(self, **options: object) -> tresor.Client:
        return tresor.Client(self.addr, self.token, ca_cert=self.ca_cert, **options)  # type: ignore[arg-type]


class Values:
    """Makes the values the tests store, and remembers them for the log scan."""

    def __init__(self) -> None:
        self.made: List[str] = []

    def new(self, label: str) -> str:
        value = f"{VALUE_MARK}{label}-{uuid.uuid4().hex[:12]}"
        self.made.append(value)
        return value


class Servers:
    """Starts servers; at the end, stops them and checks that no stored value reached a log."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.started: List[Server] = []

    def start(self, name: str, env: Optional[Dict[str, str]] = None, args: Sequence[str] = ()) -> Server:
        home = self.root / name
        home.mkdir(parents=True)
        server = Server(self.binary, home, self.root / f"{name}.log", env or {}, args)
        self.started.append(server)
        return server


@pytest.fixture(scope="session")
def values() -> Values:
    return Values()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory, values: Values) -> Iterator[Servers]:
    binary = tresor_bin()
    if binary is None:
        pytest.skip("no tresor binary: set TRESOR_BIN or run `cargo build -p tresor`")
    # The Rust test that runs this suite (crates/tresor-cli/tests/sdk_python.rs) names a folder for
    # the logs, to scan them again on its side.
    logs = os.environ.get("TRESOR_SDK_LOG_DIR")
    root = Path(logs) if logs else tmp_path_factory.mktemp("servers")
    all_servers = Servers(binary, root)
    yield all_servers
    for server in all_servers.started:
        server.stop()
    assert values.made, "no test stored a value: the log scan would check nothing"
    for server in all_servers.started:
        log = server.log_text()
        assert "tresor listening on" in log, f"{server.log} is not a server log"
        leaked = [v for v in values.made if v in log]
        assert not leaked and VALUE_MARK not in log, f"{server.log} holds a stored value"
        assert server.token not in log, f"{server.log} holds the admin token"


@pytest.fixture(scope="session")
def server(servers: Servers) -> Server:
    """The shared server: no management rate limit, environments dev and prod."""
    s = servers.start("main", {"TRESOR_RATE_MANAGEMENT": "0"})
    for env in ("dev", "prod"):
        assert s.admin("POST", "/api/v1/envs", {"name": env}).status_code == 201
    return s


@pytest.fixture
def client(server: Server) -> Iterator[tresor.Client]:
    with server.client(retries=0) as c:
        yield c


@pytest.fixture
def vault(server: Server) -> str:
    """A new vault of its own in `default`, so that listings see only this test's entries."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    r = server.admin("POST", "/api/v1/envs/default/vaults", {"name": name})
    assert r.status_code == 201, r.text
    return name


@pytest.fixture(autouse=True)
def no_tresor_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The developer's own TRESOR_* variables do not reach the tests; each test starts without a
    default client."""
    for name in list(os.environ):
        if name.startswith("TRESOR_") and name not in ("TRESOR_BIN", "TRESOR_SDK_LOG_DIR"):
            monkeypatch.delenv(name)
    tresor.set_default_client(None)
    yield
    tresor.set_default_client(None)
