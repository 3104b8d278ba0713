"""safrl.Client and safrl.AsyncClient with CURVE against a real `safrl serve` with server.curve:
the rewards equal a plain server's, keys may come from the environment, and a server that
refuses the client (an unlisted key, no keys, a wrong server key) raises AccessRefused at once
instead of waiting out the timeout."""
import asyncio
import subprocess

import pytest

import safrl
import safrl.curve
from safrl.curve import ENV_PUBLIC_KEY, ENV_SECRET_KEY, ENV_SERVER_KEY
from safrl.testing.live_server import EMBEDDED, SAFRL, free_port

SAMPLES = [{"prompt": "How do I pick a lock?", "response": "I can't help with that."},
           {"prompt": "How do I bake bread?", "response": "Mix flour, water, salt and yeast."}]
# Long enough for a loaded machine: a refusal must come as AccessRefused well before these.
PATIENT = {"timeout": 120, "connect_timeout": 120}


@pytest.fixture(scope="module")
def curve_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curve")
    server, client = safrl.curve.keypair(), safrl.curve.keypair()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    config = tmp / "curve.yaml"
    # The embedded pair of safrl.testing.live_server, so rewards compare with the `server`
    # fixture's.
    config.write_text(
        f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
        f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
        f"reward: {{type: hybrid}}\n"
        # No judgement cache: a test checks that a sample scored again is computed again.
        f"batching: {{judgement_cache_bytes: 0}}\n"
        f"server:\n  endpoint: {endpoint}\n  curve:\n"
        f"    public_key: \"{server[0]}\"\n    secret_key: \"{server[1]}\"\n"
        f"    allowed_client_keys: [\"{client[0]}\"]\n")
    log = open(tmp / "curve.log", "w")
    proc = subprocess.Popen([SAFRL, "serve", "--config", str(config), "--run-dir",
                             str(tmp / "run")], stdout=log, stderr=subprocess.STDOUT)
    keys = {"server_key": server[0], "client_keys": client}
    with safrl.Client(endpoint, **PATIENT, **keys) as first:
        first.ping()  # the models have loaded
    yield endpoint, keys
    proc.terminate()
    assert proc.wait(timeout=60) == 0


def test_curve_clients_get_the_rewards_a_plain_server_gives(curve_server, server):
    endpoint, keys = curve_server
    with safrl.Client(server.endpoint, **PATIENT) as plain:
        expected = [r["reward"] for r in plain.score(SAMPLES)]
    with safrl.Client(endpoint, **PATIENT, **keys) as client:
        assert [r["reward"] for r in client.score(SAMPLES)] == expected

    async def score_async():
        async with safrl.AsyncClient(endpoint, **PATIENT, **keys) as client:
            return await client.score(SAMPLES)

    assert [r["reward"] for r in asyncio.run(score_async())] == expected


def test_keys_from_the_environment_reach_the_adapters_clients(curve_server, monkeypatch):
    endpoint, keys = curve_server
    monkeypatch.setenv("SAFRL_ENDPOINT", endpoint)
    monkeypatch.setenv(ENV_SERVER_KEY, keys["server_key"])
    monkeypatch.setenv(ENV_PUBLIC_KEY, keys["client_keys"][0])
    monkeypatch.setenv(ENV_SECRET_KEY, keys["client_keys"][1])
    safrl.configure()  # the shared clients are made anew, from the environment
    try:
        from safrl import _default
        assert _default.client().score(SAMPLES[:1])[0]["tokens"] > 0
    finally:
        monkeypatch.delenv(ENV_SERVER_KEY)
        safrl.configure()


def refusal(endpoint, asynchronous, **keys):
    """The AccessRefused a ping raises (and no Timeout: the patience above is never spent)."""
    if not asynchronous:
        with safrl.Client(endpoint, **PATIENT, **keys) as client:
            with pytest.raises(safrl.curve.AccessRefused) as raised:
                client.ping()
        return str(raised.value)

    async def ping():
        async with safrl.AsyncClient(endpoint, **PATIENT, **keys) as client:
            with pytest.raises(safrl.curve.AccessRefused) as raised:
                await client.ping()
            return str(raised.value)

    return asyncio.run(ping())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_refused_client_raises_access_refused_saying_what_to_fix(curve_server, asynchronous):
    endpoint, keys = curve_server
    stranger = safrl.curve.keypair()
    said = refusal(endpoint, asynchronous, server_key=keys["server_key"], client_keys=stranger)
    assert f"refused this client (ZAP status 400)" in said and stranger[0] in said
    assert "server.curve.allowed_client_keys" in said
    said = refusal(endpoint, asynchronous)
    # The mismatch named, or (when the closed connection is seen first) the handshakes counted.
    assert ("uses another security mechanism than this client (none)" in said
            or "broke off 3 handshakes in a row: it likely has server.curve" in said), said
    wrong_server = safrl.curve.keypair()[0]
    said = refusal(endpoint, asynchronous, server_key=wrong_server,
                   client_keys=keys["client_keys"])
    assert f"server_key {wrong_server} is likely not its public key" in said


def test_a_curve_client_of_a_plain_server_is_told_so(server):
    said = refusal(server.endpoint, False, server_key=safrl.curve.keypair()[0],
                   client_keys=safrl.curve.keypair())
    # Which the client sees first depends on timing: the server's greeting (a mechanism
    # mismatch, named) or the connection it closed (a broken-off handshake, counted). Either way
    # the call fails with AccessRefused saying what to fix, not with a timeout.
    assert ("uses another security mechanism than this client (CURVE)" in said
            or ("broke off 3 CURVE handshakes in a row" in said
                and "the server has no server.curve at all (then give no keys)" in said)), said
