"""flows.yaml deployed the way an operator deploys it, against a real Prefect server.

One module-scoped `prefect server start` (its own PREFECT_HOME, a free port), then the documented commands as
subprocesses: `prefect work-pool create provenance --type process`, `prefect --no-prompt deploy --prefect-file
flows.yaml --all` from the checkout, `prefect deployment run ...` and a standing `prefect worker start --pool
provenance` whose pull step moves into $PROVENANCE_HOME (this checkout). The tests check that every deployment
is registered as declared, that the server's scheduler turns the active schedules into scheduled runs (and
the inactive one into none), that deploying writes nothing into the checkout, and that the scan and datasheet
deployments complete on the worker.

Why not the session's `prefect_api` fixture: its server is a real uvicorn subprocess on 127.0.0.1, so a worker
could reach it given PREFECT_API_URL, but it is shared by the whole session (a work pool, five deployments with
schedules, scheduled runs and artifacts keyed like the ones other tests read would land in it) and it is not
what an operator runs. This server costs ~20-25 s to start on a fresh home (database migrations).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FLOWS_YAML = REPO / "flows.yaml"
SPEC = yaml.safe_load(FLOWS_YAML.read_text())
DEPLOYMENTS = {d["name"]: d for d in SPEC["deployments"]}

_cli = Path(sys.executable).with_name("prefect")
PREFECT = str(_cli) if _cli.exists() else shutil.which("prefect")
if not PREFECT:
    pytest.skip("needs the prefect CLI", allow_module_level=True)

pytestmark = pytest.mark.prefect

TIMINGS: dict[str, float] = {}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


# ---------------------------------------------------------------------------------------------- processes

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """The caller's environment without any PREFECT_* (the session harness sets some), plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO",
               COLUMNS="200", PYTHONUNBUFFERED="1")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env.update(extra)
    return env


def _kill_tree(pid: int, grace: float = 15) -> None:
    """SIGTERM the CLI process (the prefect CLI passes it on to the worker or server it runs, gracefully),
    then after `grace` seconds SIGKILL its process group and every descendant still alive, including any in
    a session of their own (a flow run may be)."""
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    try:
        root.terminate()
    except psutil.NoSuchProcess:
        pass
    try:
        root.wait(timeout=grace)
    except psutil.TimeoutExpired:
        pass
    alive = [p for p in procs if p.is_running()]  # psutil checks pid and creation time: no reused pid
    if not alive:
        return
    if root in alive:
        os.killpg(pid, signal.SIGKILL)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


class Proc:
    """A long-running CLI process in its own session, output to a log file."""

    def __init__(self, name: str, args: list[str], env: dict, cwd: Path, log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._fh = open(self.log, "wb")
        self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._fh,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def output(self, tail: int = 12000) -> str:
        self._fh.flush()
        text = self.log.read_text(errors="replace")
        return text[-tail:]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            _kill_tree(self.popen.pid)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._fh.close()


def run(args: list[str], env: dict, cwd: Path, timeout: float = 180) -> str:
    """Run a CLI command to completion (own session, whole group killed on timeout); its output, or fail."""
    p = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(p.pid, grace=2)
        out, _ = p.communicate()
        pytest.fail(f"timed out after {timeout:.0f} s: {' '.join(args)}\n{out[-8000:]}")
    if p.returncode:
        pytest.fail(f"exit {p.returncode}: {' '.join(args)}\n{out[-8000:]}")
    return out


# ---------------------------------------------------------------------------------------------- fixtures

@dataclass
class Server:
    url: str
    root: Path
    home: Path
    proc: Proc
    env: dict = field(default_factory=dict)

    def client(self):
        from prefect.client.orchestration import SyncPrefectClient
        return SyncPrefectClient(self.url)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefect-deploy")
    home = root / "home"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    t0 = time.monotonic()
    proc = Proc("server", [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                _env(home), root, root)
    try:
        import httpx
        deadline = t0 + 180
        while True:
            if not proc.alive():
                pytest.fail(f"prefect server exited with {proc.popen.returncode}:\n{proc.output()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server did not answer /api/health within 180 s:\n{proc.output()}")
            time.sleep(0.3)
        TIMINGS["server start (fresh home, until /api/health)"] = time.monotonic() - t0
        yield Server(url=url, root=root, home=home, proc=proc, env=_env(home, url))
    finally:
        proc.stop()


def _git_status() -> set[str] | None:
    if not (REPO / ".git").exists() or not shutil.which("git"):
        return None
    out = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=all"],
                         capture_output=True, text=True, timeout=60)
    return set(out.stdout.splitlines()) if out.returncode == 0 else None


PREFECT_FILES = ("prefect.yaml", ".prefect", ".prefectignore", "deployment.yaml")


@dataclass
class Deployed:
    output: str
    git_before: set[str] | None
    git_after: set[str] | None
    prefect_files_before: set[str]
    prefect_files_after: set[str]


@pytest.fixture(scope="module")
def deployed(server):
    pools = sorted({d["work_pool"]["name"] for d in SPEC["deployments"]})
    t0 = time.monotonic()
    for pool in pools:
        run([PREFECT, "work-pool", "create", pool, "--type", "process"], server.env, server.root)
    TIMINGS["work-pool create"] = time.monotonic() - t0

    git_before = _git_status()
    files_before = {n for n in PREFECT_FILES if (REPO / n).exists()}
    t0 = time.monotonic()
    out = run([PREFECT, "--no-prompt", "deploy", "--prefect-file", FLOWS_YAML.name, "--all"], server.env, REPO)
    TIMINGS["deploy --all (5 deployments)"] = time.monotonic() - t0
    return Deployed(out, git_before, _git_status(), files_before,
                    {n for n in PREFECT_FILES if (REPO / n).exists()})


def _by_name(client) -> dict:
    return {d.name: d for d in client.read_deployments()}


@pytest.fixture(scope="module")
def scheduled_runs(server, deployed):
    """Scheduled runs per deployment as the server's scheduler creates them after the deploy (its
    recent-deployments loop runs every 5 s). Stops early when the server logs the SQLAlchemy 2.1 failure."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    expect = {n for n, d in DEPLOYMENTS.items() if any(s.get("active", True) for s in d.get("schedules") or [])}
    t0 = time.monotonic()
    runs: dict[str, list] = {}
    with server.client() as c:
        deps = _by_name(c)
        while True:
            runs = {}
            for name, d in deps.items():
                runs[name] = c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])))
            if all(runs.get(n) for n in expect):
                TIMINGS["scheduler: first scheduled runs after deploy"] = time.monotonic() - t0
                break
            if "Can't evaluate bulk DML" in server.proc.output(200000) or time.monotonic() - t0 > 45:
                break
            time.sleep(1)
    return runs


@pytest.fixture(scope="module")
def worker(server, deployed, scheduled_runs):
    """A standing process worker on the pool, run from a directory that is not the checkout, with
    PROVENANCE_HOME pointing at the checkout. Schedules are switched off and their runs deleted first, so
    that only the runs the tests create can reach it (a cron could otherwise fire during the test)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with server.client() as c:
        for d in c.read_deployments():
            for s in d.schedules:
                c.update_deployment_schedule(d.id, s.id, active=False)
            for r in c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id]))):
                if r.state_type and r.state_type.value == "SCHEDULED":
                    c.delete_flow_run(r.id)
    cwd = server.root / "worker-cwd"
    cwd.mkdir()
    env = _env(server.home, server.url, PROVENANCE_HOME=str(REPO), PREFECT_WORKER_QUERY_SECONDS="2")
    pool = SPEC["deployments"][0]["work_pool"]["name"]
    proc = Proc("worker", [PREFECT, "worker", "start", "--pool", pool], env, cwd, server.root)
    try:
        yield proc
    finally:
        proc.stop()


def run_deployment(server: Server, worker: Proc, name: str, params: dict, timeout: float = 240):
    """`prefect deployment run FLOW/NAME --param k=json ...`, then poll the API until the run is final."""
    mod, attr = DEPLOYMENTS[name]["entrypoint"].split(":")
    flow_name = getattr(importlib.import_module("provenance.pipelines." + Path(mod).stem), attr).name
    args = [PREFECT, "deployment", "run", f"{flow_name}/{name}"]
    for k, v in params.items():
        args += ["--param", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    t0 = time.monotonic()
    out = run(args, server.env, server.root)
    m = re.search(r"UUID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", out)
    assert m, out
    with server.client() as c:
        while True:
            fr = c.read_flow_run(m.group(1))
            state = fr.state_type.value if fr.state_type else None
            if state in FINAL:
                break
            if not worker.alive():
                pytest.fail(f"the worker exited ({worker.popen.returncode}) with the run {state}:\n{worker.output()}")
            if time.monotonic() - t0 > timeout:
                pytest.fail(f"flow run {fr.name} still {state} after {timeout:.0f} s; worker output:\n{worker.output()}")
            time.sleep(0.5)
    TIMINGS[f"{name}: deployment run -> Completed"] = time.monotonic() - t0
    assert state == "COMPLETED", f"{name}: {state}: {fr.state.message if fr.state else ''}\n{worker.output()}"
    return fr


@pytest.fixture(scope="module")
def scanned(server, worker):
    from provenance.sample import generate

    sample = server.root / "sample"
    generate(sample, docs=600, shards=2, seed=7)
    ledger = server.root / "l.duckdb"
    fr = run_deployment(server, worker, "scan-corpus", {"inputs": [f"{sample}/*.json.gz"], "ledger": str(ledger)})
    return ledger, fr


# ---------------------------------------------------------------------------------------------- tests

def test_flows_yaml_declares_every_flow():
    """Every flow in pipelines/ has a deployment, each on a work pool, the scheduled flows with a schedule."""
    import ast

    flows = set()
    for py in sorted((REPO / "pipelines").glob("*.py")):
        for node in ast.parse(py.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(
                    (isinstance(d, ast.Call) and getattr(d.func, "id", None) == "flow") or getattr(d, "id", None) == "flow"
                    for d in node.decorator_list):
                flows.add(f"pipelines/{py.name}:{node.name}")
    assert flows == {d["entrypoint"] for d in SPEC["deployments"]}
    assert all(d.get("work_pool", {}).get("name") for d in SPEC["deployments"])
    for name in ("scan-corpus", "refresh-robots", "cluster-duplicates", "write-datasheet"):
        assert DEPLOYMENTS[name].get("schedules"), name
    assert SPEC["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $PROVENANCE_HOME }}"


def test_every_deployment_is_registered_as_declared(server, deployed):
    with server.client() as c:
        deps = _by_name(c)
        assert set(deps) == set(DEPLOYMENTS), deployed.output[-4000:]
        for name, spec in DEPLOYMENTS.items():
            d = deps[name]
            mod, attr = spec["entrypoint"].split(":")
            flow = getattr(importlib.import_module("provenance.pipelines." + Path(mod).stem), attr)
            assert c.read_flow(d.flow_id).name == flow.name
            assert c.read_deployment_by_name(f"{flow.name}/{name}").id == d.id
            assert d.entrypoint == spec["entrypoint"]
            assert d.work_pool_name == spec["work_pool"]["name"]
            assert d.parameters == spec.get("parameters", {}), name
            assert sorted(d.tags) == sorted(spec.get("tags", [])), name
            assert d.description == spec.get("description"), name
            assert d.pull_steps == SPEC["pull"], name
            assert not d.paused, name
            got = sorted((s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules)
            want = sorted((s["cron"], s.get("timezone", "UTC"), s.get("active", True)) for s in spec.get("schedules") or [])
            assert got == want, name
            # the declared parameters fit the flow's signature: nothing required is missing, nothing unknown
            schema = d.parameter_openapi_schema or {}
            assert set(schema.get("required", [])) <= set(d.parameters), (name, schema.get("required"))
            assert set(d.parameters) <= set(schema.get("properties", {})), (name, sorted(schema.get("properties", {})))


def test_deploy_writes_nothing_into_the_checkout(deployed):
    assert deployed.prefect_files_after == deployed.prefect_files_before
    if deployed.git_before is None:
        return  # not a git checkout (e.g. an sdist): the file check above is all there is
    new = sorted(line for line in deployed.git_after - deployed.git_before if "__pycache__" not in line)
    assert not new, f"`prefect deploy` changed the checkout: {new}"


def _cron_fits(cron: str, tz: str, when: datetime) -> bool:
    """Does `when` fit a cron of plain numbers and stars? (Other field syntax is not checked.)"""
    t = when.astimezone(ZoneInfo(tz))
    values = (t.minute, t.hour, t.day, t.month, t.isoweekday() % 7)  # cron weekday: 0 (or 7) is Sunday
    fields = cron.split()
    if fields[4] == "7":
        fields[4] = "0"
    return t.second == 0 and all(not f.isdigit() or int(f) == v for f, v in zip(fields, values))


def test_active_schedules_become_scheduled_runs(server, scheduled_runs):
    """The server's scheduler creates runs for every active schedule, at the cron's times, and none for an
    inactive schedule or a deployment without one. (Prefect 3.8.8's scheduler failed on SQLAlchemy 2.1: every
    insert of scheduled runs raised and no scheduled flow ever ran. 3.9.1 works with 2.1.9.)"""
    log = server.proc.output(200000)
    if (at := log.find("Can't evaluate bulk DML")) >= 0:
        import sqlalchemy
        pytest.fail(f"the Prefect server's scheduler cannot insert scheduled runs with SQLAlchemy "
                    f"{sqlalchemy.__version__} (Prefect 3.8.8 needed sqlalchemy<2.1; 3.9.1 worked with 2.1.9): no "
                    f"scheduled flow would ever run. Server log:\n{log[max(0, at - 1500):at + 200]}")
    now = datetime.now(timezone.utc)
    for name, spec in DEPLOYMENTS.items():
        active = [s for s in spec.get("schedules") or [] if s.get("active", True)]
        runs = scheduled_runs.get(name, [])
        if not active:
            assert runs == [], f"{name}: no active schedule, yet {len(runs)} runs"
            continue
        assert runs, f"{name}: active schedule but no scheduled run within 45 s of the deploy"
        for r in runs:
            assert r.state_type.value == "SCHEDULED" and r.auto_scheduled, (name, r.state_type)
            assert r.parameters == spec.get("parameters", {}), name
            start = r.expected_start_time
            assert now - timedelta(minutes=5) < start < now + timedelta(days=120), (name, start)
            assert any(_cron_fits(s["cron"], s.get("timezone", "UTC"), start) for s in active), (name, start)


def test_scan_deployment_completes_on_a_worker(scanned):
    from provenance.ledger import Ledger

    ledger, fr = scanned
    assert fr.deployment_id is not None and fr.parameters["quiet"] is True  # deployment default kept
    with Ledger(ledger, read_only=True) as led:
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 600}]
        assert led.query("SELECT count(*) AS n FROM shards").to_pylist() == [{"n": 2}]
        last = led.query("SELECT status, documents FROM runs ORDER BY started_at DESC LIMIT 1").to_pylist()
    assert last == [{"status": "done", "documents": 600}]


def test_datasheet_deployment_writes_its_files_and_artifacts(server, worker, scanned):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    ledger, _ = scanned
    out = server.root / "datasheet"
    fr = run_deployment(server, worker, "write-datasheet", {"ledger": str(ledger), "out_dir": str(out)})
    for f in ("datasheet.md", "README.md", "eu-training-summary.md", "datasheet.html", "facts.json"):
        assert (out / f).stat().st_size > 0, f
    assert json.loads((out / "facts.json").read_text())["corpus"]["documents"] == 600
    with server.client() as c:
        keys = {a.key for a in c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id])))}
    assert {"datasheet-top-domains", "datasheet"} <= keys, keys
    print("\ntimings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))
