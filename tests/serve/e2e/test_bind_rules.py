"""Who may reach the ZeroMQ endpoint (docs/security.md, Bind rules): an endpoint other machines
can reach is refused at start, before any model loads, unless CURVE, a client address allow-list
(server.allowed_clients) or --insecure-bind guards it; a client outside the allow-list gets no
answer, is counted, and is logged once."""
import socket
import subprocess
import time

import pytest

import safrl
import safrl.curve
from safrl.testing.live_server import EMBEDDED, SAFRL, Client, free_port

GUARD = f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\nreward: {{type: guard_only}}\n"
THE_WAYS_OUT = ("server.curve", "server.allowed_clients", "--insecure-bind",
                "server.insecure_bind: true")


def routable_address():
    """This machine's address on its default route, or None (a machine with loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # UDP: picks the route, sends nothing
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def start(tmp_path, server_yaml, *args, name="run"):
    config = tmp_path / f"{name}.yaml"
    config.write_text(GUARD + "server:\n" + (server_yaml or "  {}\n"))
    log = tmp_path / f"{name}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SAFRL, "serve", "--config", str(config), "--run-dir",
                                 str(tmp_path / name), *args], stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, log


def refused_at_start(tmp_path, server_yaml, *args):
    """The exit code and output of a server that must stop before serving."""
    proc, log = start(tmp_path, server_yaml, *args)
    code = proc.wait(timeout=120)
    return code, log.read_text()


def answer(client_endpoint, proc=None, **keys):
    """A ping through safrl.Client, waiting generously for the server to load its model (and
    failing at once if the server process `proc` exits meanwhile)."""
    deadline = time.monotonic() + 120
    with safrl.Client(client_endpoint, timeout=5, connect_timeout=1, retries=0, **keys) as client:
        while True:
            try:
                return client.ping()
            except safrl.Timeout:
                assert proc is None or proc.poll() is None, f"the server exited: {proc.poll()}"
                assert time.monotonic() < deadline, "no answer within 120 s"


def stop(proc):
    proc.terminate()
    return proc.wait(timeout=60)


@pytest.mark.parametrize("where", ["flag_wildcard", "flag_any_ipv4", "config_wildcard",
                                   "routable_address"])
def test_an_exposed_bind_without_a_guard_is_refused_before_any_model_loads(tmp_path, where):
    port = free_port()
    address = routable_address()
    if where == "routable_address" and address is None:
        pytest.skip("this machine has no address besides loopback")
    endpoint = {"flag_wildcard": f"tcp://*:{port}", "flag_any_ipv4": f"tcp://0.0.0.0:{port}",
                "config_wildcard": f"tcp://*:{port}",
                "routable_address": f"tcp://{address}:{port}"}[where]
    # A guard that does not exist: had the model been loaded first, its error would show.
    config = tmp_path / "run.yaml"
    config.write_text("guard: {model: /nonexistent/guard}\nreward: {type: guard_only}\n" +
                      (f"server: {{endpoint: \"{endpoint}\"}}\n" if where == "config_wildcard"
                       else ""))
    args = [] if where == "config_wildcard" else ["--endpoint", endpoint]
    result = subprocess.run([SAFRL, "serve", "--config", str(config), "--run-dir",
                             str(tmp_path / "run"), *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"{endpoint} can be reached from other machines and nothing guards it" in result.stderr
    assert all(way in result.stderr for way in THE_WAYS_OUT), result.stderr
    assert "/nonexistent" not in result.stderr
    assert not (tmp_path / "run").exists()  # nothing started: no run directory either


@pytest.mark.parametrize("way", ["curve", "allowed_clients", "insecure_bind_flag",
                                 "insecure_bind_config"])
def test_each_way_out_opens_a_wildcard_bind(tmp_path, way):
    port = free_port()
    server_public, server_secret = safrl.curve.keypair()
    client_public, client_secret = safrl.curve.keypair()
    server_yaml = {
        "curve": ("  curve:\n"
                  f"    public_key: \"{server_public}\"\n"
                  f"    secret_key: \"{server_secret}\"\n"
                  f"    allowed_client_keys: [\"{client_public}\"]\n"),
        "allowed_clients": "  allowed_clients: [127.0.0.0/8]\n",
        "insecure_bind_flag": "",
        "insecure_bind_config": "  insecure_bind: true\n"}[way]
    args = ["--endpoint", f"tcp://*:{port}"]
    if way == "insecure_bind_flag":
        args.append("--insecure-bind")
    keys = ({"server_key": server_public, "client_keys": (client_public, client_secret)}
            if way == "curve" else {})
    proc, log = start(tmp_path, server_yaml, *args)
    try:
        assert answer(f"tcp://127.0.0.1:{port}", proc, **keys)["time_ms"] > 0
    finally:
        assert stop(proc) == 0
    said = log.read_text()
    assert f"tcp://*:{port} " in said
    if way == "curve":
        assert "CURVE admits only the 1 client key(s)" in said
    elif way == "allowed_clients":
        assert "only clients from 127.0.0.0/8 (server.allowed_clients) are admitted" in said
    else:
        # What the flag exposes: every address of this machine besides loopback.
        assert "WARNING: --insecure-bind" in said and "no authentication" in said
        address = routable_address()
        if address is not None:
            assert address in said.split("WARNING", 1)[1].splitlines()[0]


def test_a_client_outside_allowed_clients_gets_no_answer_and_is_counted(tmp_path):
    port = free_port()
    # 127.0.0.2/31 is 127.0.0.2 and 127.0.0.3; the clients pick their source address with
    # ZeroMQ's "tcp://SOURCE:0;DESTINATION" form, so three loopback addresses stand for three
    # machines.
    proc, log = start(tmp_path, "  allowed_clients: [127.0.0.2/31]\n",
                      "--endpoint", f"tcp://*:{port}")
    try:
        inside = f"tcp://127.0.0.3:0;127.0.0.1:{port}"
        assert answer(inside, proc)["time_ms"] > 0
        # A plain ZeroMQ client from outside the block: its request is never read, so no answer.
        stranger = Client(f"tcp://127.0.0.4:0;127.0.0.1:{port}")
        try:
            assert stranger.call({"type": "ping"}, timeout=3) is None
        finally:
            stranger.close()
        # safrl.Client from outside says so at once, instead of timing out.
        with pytest.raises(safrl.curve.AccessRefused, match="refused this client"):
            answer(f"tcp://127.0.0.1:{port}")
        with safrl.Client(inside, timeout=120) as client:
            counters = client.stats()["counters"]
            assert client.score([{"prompt": "hi", "response": "hello"}])[0]["tokens"] > 0
    finally:
        assert stop(proc) == 0
    # ZeroMQ reconnects a refused client every 100 ms or so: each attempt is counted, and each
    # address is logged once.
    assert counters["refused_connections"] >= 2
    said = log.read_text()
    refusals = [line for line in said.splitlines() if "refused a ZeroMQ connection" in line]
    assert sorted(line.split(" from ")[1].split(":")[0] for line in refusals) == \
        ["127.0.0.1", "127.0.0.4"], refusals
    assert all("not in server.allowed_clients" in line for line in refusals)


@pytest.mark.parametrize("server_yaml, args, message", [
    ("  allowed_clients: [10.0.0.0/33]\n", [],
     "server.allowed_clients[0]: \"10.0.0.0/33\": the prefix length after / must be 0 to 32"),
    ("  allowed_clients: [trainer-node]\n", [],
     "\"trainer-node\" is not an address or CIDR block"),
    ("  allowed_clients: [127.0.0.1]\n", ["--endpoint", "ipc:///tmp/safrl-bind-rules.sock"],
     "is not a tcp:// endpoint, whose clients have addresses"),
])
def test_a_wrong_allow_list_stops_start_up_saying_what_is_wrong(tmp_path, server_yaml, args,
                                                                message):
    code, said = refused_at_start(tmp_path, server_yaml, *args)
    assert code == 2 and message in said, said


def test_loopback_and_ipc_binds_need_no_guard(tmp_path):
    port = free_port()
    proc, log = start(tmp_path, f"  endpoint: tcp://127.0.0.1:{port}\n", name="tcp")
    ipc = f"ipc://{tmp_path}/safrl.sock"
    proc_ipc, log_ipc = start(tmp_path, "", "--endpoint", ipc, name="ipc")
    try:
        assert answer(f"tcp://127.0.0.1:{port}", proc)["time_ms"] > 0
        assert answer(ipc, proc_ipc)["time_ms"] > 0
    finally:
        assert stop(proc) == 0 and stop(proc_ipc) == 0
    for said in (log.read_text(), log_ipc.read_text()):
        assert "reachable from other machines" not in said and "WARNING" not in said
