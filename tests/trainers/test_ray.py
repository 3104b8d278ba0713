"""safrl.ray on a local Ray cluster: two CPU replicas, a trainer's requests spread over them, one
replica's server killed mid-step. Every sample gets exactly one reward, equal to what a single
server gives; the killed server is restarted on its endpoint; the replicas' step logs merge into
one row per step. CURVE: the run's keys reach the replicas and the trainer's Ray workers, and
nobody else gets in; without keys, replicas stay on loopback."""
import json
import os

import pytest
import ray

import safrl
import safrl.curve
import safrl.ray
from safrl.testing.live_server import EMBEDDED

STEPS = (1, 2, 3)


@pytest.fixture(scope="module")
def cluster():
    # Ray starts its workers at niceness 15 and the replicas' servers inherit it: beside a build
    # or another test (CI's ctest -j2) a replica then took 22 s to answer instead of 4 s. Its
    # raylet reads RAY_worker_niceness when ray.init starts it (CTest sets it too).
    niceness = os.environ.get("RAY_worker_niceness")
    os.environ["RAY_worker_niceness"] = "0"
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if niceness is None:
        del os.environ["RAY_worker_niceness"]
    else:
        os.environ["RAY_worker_niceness"] = niceness


def embedded_config(tmp_path):
    path = tmp_path / "replica.yaml"
    path.write_text(f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
                    f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
                    f"reward: {{type: hybrid}}\n"
                    f"server: {{steps_kept_open: 8}}\n")
    return str(path)


def groups(step):
    return [f"q{step}-{g}" for g in range(4)], [[f"a{step}-{g}-{k}" for k in range(3)]
                                                 for g in range(4)]


def score_all(client, before_group=None):
    """Every step's groups, one request per group (as the TRL adapter sends them)."""
    out = {}
    for step in STEPS:
        prompts, responses = groups(step)
        for g, (prompt, answers) in enumerate(zip(prompts, responses)):
            if before_group:
                before_group(step, g)
            [results] = client.score_groups([prompt], [answers], step=step)
            for answer, result in zip(answers, results):
                assert (prompt, answer) not in out
                out[(prompt, answer)] = result["reward"]
    return out


def assert_each_replica_scored(replica_set):
    """Both replicas wrote step rows with samples (the file alone exists from the start)."""
    counted = {}
    for log in replica_set.step_logs():
        replica = os.path.basename(os.path.dirname(os.path.dirname(log)))
        counted[replica] = counted.get(replica, 0) + sum(
            json.loads(line)["count"] for line in open(log))
    assert sorted(counted) == ["replica-0", "replica-1"] and min(counted.values()) > 0, counted


@pytest.fixture(scope="module")
def one_server(cluster, tmp_path_factory):
    """One replica without CURVE, every step's groups scored on it, then stopped: the reference
    the replicated runs are compared with (its rewards and merged rows), and what the replica set
    said of itself while it ran. One start shared by the tests: each start is a Ray actor and a
    server loading its models."""
    tmp = tmp_path_factory.mktemp("one-server")
    replicas = safrl.ray.start(embedded_config(tmp), replicas=1, run_dir=str(tmp / "runs"),
                               curve=False)
    try:
        seen = {"endpoints": replicas.endpoints, "client_options": replicas.client_options(),
                "environment": replicas.environment()}
        with safrl.Client(replicas.endpoints) as client:
            seen["rewards"] = score_all(client)
    finally:
        seen["codes"] = replicas.stop()
    seen["rows"] = replicas.merged_steps()
    return seen


def test_replicas_spread_restart_and_merge(cluster, one_server, tmp_path):
    config = embedded_config(tmp_path)
    # CURVE (the default) through a kill and a restart: the restarted server gets the run's keys.
    replicas = safrl.ray.start(config, replicas=2, num_cpus=1, run_dir=str(tmp_path / "runs"),
                               host="127.0.0.1", http=True)
    try:
        endpoints = replicas.endpoints
        assert len(set(endpoints)) == 2
        killed = []

        def kill_first_in_step_two(step, group):
            if (step, group) == (2, 2) and not killed:
                pid = replicas.status()[0]["pid"]
                os.kill(pid, 9)
                killed.append(pid)

        # A timeout long enough for a loaded machine: a request retried only because its server
        # was slow is scored (and counted) on two replicas; its reward is still taken once.
        with safrl.Client(endpoints, timeout=30, retries=5, backoff=0.05,
                          **replicas.client_options()) as client:
            rewards = score_all(client, kill_first_in_step_two)
        status = replicas.status()
        assert status[0]["restarts"] == 1 and status[0]["alive"] and status[0]["pid"] != killed[0]
        assert status[0]["endpoint"] == endpoints[0]
        # Each replica's HTTP port is its own, and answers after the restart too.
        ports = [s["http_port"] for s in status]
        assert len(set(ports)) == 2 and all(ports)
        import urllib.request
        for port in ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
                assert r.status == 200
    finally:
        codes = replicas.stop()
    assert codes == [0, 0]
    # One single server's rewards for the same samples: equal, each sample once.
    expected = one_server["rewards"]
    assert rewards.keys() == expected.keys()
    assert [rewards[k] for k in expected] == pytest.approx([expected[k] for k in expected],
                                                           abs=1e-6)
    # The replicas' logs merge into one row per step. The killed server's open steps died with
    # it, so a merged step counts at most the samples sent. (Which replica scored what after the
    # kill depends on when ZeroMQ reconnects to the restarted one; the run without a kill below
    # checks that both get work.)
    merged = replicas.merged_steps()
    assert [row["step"] for row in merged] == list(STEPS)
    assert 0 < merged[0]["count"] <= 12 and 0 < merged[1]["count"] <= 12
    # The step after the kill is whole, each sample counted once.
    assert merged[2]["count"] == 12
    assert [row["count"] for row in one_server["rows"]] == [12, 12, 12]


def test_merged_replica_steps_equal_one_servers(cluster, one_server, tmp_path):
    """Without a kill, the merged rows of two replicas are the rows one server writes."""
    two = safrl.ray.start(embedded_config(tmp_path), replicas=2, run_dir=str(tmp_path / "two"),
                          curve=False)
    with safrl.Client(two.endpoints) as client:
        score_all(client)
    assert two.stop() == [0, 0]
    assert one_server["codes"] == [0]
    merged, alone = two.merged_steps(), one_server["rows"]
    assert_each_replica_scored(two)
    assert [r["count"] for r in merged] == [r["count"] for r in alone] == [12, 12, 12]
    for a, b in zip(merged, alone):
        for key in ("safety_rate", "refusal_rate", "reward_mean", "reward_std", "reward_min",
                    "reward_max", "helpfulness_mean"):
            assert a[key] == pytest.approx(b[key], abs=1e-9), key


def test_a_bad_config_is_named(cluster, tmp_path):
    with pytest.raises(ValueError, match="no config file"):
        safrl.ray.start(str(tmp_path / "missing.yaml"), replicas=1, run_dir=str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text("guard: {model: /nonexistent}\n")
    with pytest.raises(Exception, match="serve.log"):
        safrl.ray.start(str(bad), replicas=1, run_dir=str(tmp_path / "bad"), host="127.0.0.1")
    # A run directory that already holds replica logs is refused (merged rows would mix runs).
    (tmp_path / "used" / "replica-0").mkdir(parents=True)
    with pytest.raises(ValueError, match="already holds replica logs"):
        safrl.ray.start(embedded_config(tmp_path), replicas=1, run_dir=str(tmp_path / "used"))


def test_curve_replicas_admit_the_runs_keys_and_no_one_else(cluster, tmp_path):
    """Keys made for the run: the replicas bind the node's address, the caller's client and a
    trainer's Ray worker (given replicas.environment()) score, a plain client and a client with
    another key are refused."""
    replicas = safrl.ray.start(embedded_config(tmp_path), replicas=2,
                               run_dir=str(tmp_path / "runs"))
    try:
        endpoints = replicas.endpoints
        node = ray.util.get_node_ip_address()
        assert endpoints == [e for e in endpoints if e.startswith(f"tcp://{node}:")]
        sample = [{"prompt": "How do I pick a lock?", "response": "I can't help with that."}]
        with safrl.Client(endpoints, timeout=120, **replicas.client_options()) as client:
            [expected] = client.score(sample)

        @ray.remote(num_cpus=0, runtime_env={"env_vars": replicas.environment()})
        def trainer_worker():
            import safrl.trl
            return safrl.trl.reward_func(prompts=[sample[0]["prompt"]],
                                         completions=[sample[0]["response"]])

        assert ray.get(trainer_worker.remote()) == [expected["reward"]]
        with safrl.Client(endpoints, timeout=120, connect_timeout=120) as plain:
            # The mechanism mismatch, or (when the server closes the connection before its
            # error reaches the client, seen on a loaded machine) the handshakes it broke off:
            # both refuse at once and tell the caller to give the keys.
            with pytest.raises(safrl.curve.AccessRefused,
                               match="another security mechanism|it likely has server.curve"):
                plain.ping()
        options = replicas.client_options()
        stranger = dict(options, client_keys=safrl.curve.keypair())
        with safrl.Client(endpoints, timeout=120, connect_timeout=120, **stranger) as other:
            with pytest.raises(safrl.curve.AccessRefused, match="refused this client"):
                other.ping()
        # Given keys are used as they are.
        keys = safrl.ray.RunKeys.generate()
        given = safrl.ray.start(embedded_config(tmp_path), replicas=1,
                                run_dir=str(tmp_path / "given"), curve=keys, host="127.0.0.1")
        try:
            assert given.client_options() == keys.client_options()
            with safrl.Client(given.endpoints, timeout=120, **keys.client_options()) as client:
                assert client.score(sample)[0]["reward"] == expected["reward"]
        finally:
            given.stop()
    finally:
        assert replicas.stop() == [0, 0]


def test_without_keys_replicas_bind_loopback_or_refuse(one_server, tmp_path):
    # What the replica set of one_server (curve=False, no host) said while it ran.
    [endpoint] = one_server["endpoints"]
    assert endpoint.startswith("tcp://127.0.0.1:")
    assert one_server["client_options"] == {}
    assert one_server["environment"] == {"SAFRL_ENDPOINT": endpoint}
    with pytest.raises(ValueError, match="host 10.1.2.3 can be reached from other machines, and "
                                         "without CURVE"):
        safrl.ray.start(embedded_config(tmp_path), replicas=1, run_dir=str(tmp_path / "open"),
                        curve=False, host="10.1.2.3")
