"""CURVE keys of the Python clients (safrl.curve): malformed or incomplete keys are refused when
the client is made, naming the key and the fix; keys come from the arguments, else from the
environment. Against a real CURVE server: tests/serve/e2e/test_client_curve.py."""
import pytest
import zmq

import safrl
import safrl.curve
from safrl.curve import ENV_PUBLIC_KEY, ENV_SECRET_KEY, ENV_SERVER_KEY

SERVER = safrl.curve.keypair()
CLIENT = safrl.curve.keypair()


def test_a_keypair_is_two_40_character_z85_keys_that_belong_together():
    public, secret = safrl.curve.keypair()
    assert len(public) == len(secret) == 40
    assert zmq.curve_public(secret.encode()).decode() == public


@pytest.mark.parametrize("make", [safrl.Client, safrl.AsyncClient])
@pytest.mark.parametrize("keys, message", [
    ({"server_key": "short", "client_keys": CLIENT},
     "server_key must be a 40-character Z85 CURVE key (as safrl.curve.keypair() or "
     "zmq.curve_keypair() make), got 5 characters"),
    ({"server_key": SERVER[0], "client_keys": (CLIENT[0], SERVER[1])},
     "client_keys: the public key is not the secret key's"),
    ({"server_key": SERVER[0], "client_keys": (CLIENT[0], "~" * 40)},
     "client_keys's secret key must be a 40-character Z85 CURVE key"),
    ({"server_key": SERVER[0]}, "a CURVE client needs both server_key"),
    ({"client_keys": CLIENT}, "a CURVE client needs both server_key"),
    ({"server_key": SERVER[0], "client_keys": CLIENT[0]},
     "client_keys must be a (public, secret) pair"),
])
def test_malformed_keys_are_refused_when_the_client_is_made(make, keys, message):
    with pytest.raises(ValueError) as raised:
        make("tcp://127.0.0.1:5555", **keys)
    assert message in str(raised.value)


def test_configure_refuses_malformed_keys_at_once():
    with pytest.raises(ValueError, match="server_key must be a 40-character Z85 CURVE key"):
        safrl.configure("tcp://127.0.0.1:5555", server_key="x" * 39, client_keys=CLIENT)


def test_keys_come_from_the_arguments_else_the_environment(monkeypatch):
    assert safrl.Client("tcp://127.0.0.1:5555").curve is None
    monkeypatch.setenv(ENV_SERVER_KEY, SERVER[0])
    monkeypatch.setenv(ENV_PUBLIC_KEY, CLIENT[0])
    monkeypatch.setenv(ENV_SECRET_KEY, CLIENT[1])
    assert safrl.Client("tcp://127.0.0.1:5555").curve == safrl.curve.CurveKeys(SERVER[0], *CLIENT)
    assert safrl.AsyncClient("tcp://127.0.0.1:5555").curve.server_key == SERVER[0]
    # A private ipc:// server (LocalServer's) has no CURVE: the environment's keys are not its.
    assert safrl.Client("ipc:///tmp/safrl-private/serve").curve is None
    other = safrl.curve.keypair()
    given = safrl.Client("tcp://127.0.0.1:5555", server_key=other[0], client_keys=CLIENT)
    assert given.curve.server_key == other[0]


def test_an_incomplete_environment_names_the_missing_variables(monkeypatch):
    monkeypatch.setenv(ENV_SERVER_KEY, SERVER[0])
    with pytest.raises(ValueError) as raised:
        safrl.Client("tcp://127.0.0.1:5555")
    assert str(raised.value) == (
        "SAFRL_CURVE_SERVER_KEY set but not SAFRL_CURVE_PUBLIC_KEY, SAFRL_CURVE_SECRET_KEY: a "
        "CURVE client needs the server's public key and its own key pair")


def test_a_local_server_scores_although_the_environment_holds_curve_keys(monkeypatch):
    """A trainer worker given a Ray run's keys can still use safrl.score's private server."""
    import pathlib
    config = str(pathlib.Path(__file__).resolve().parents[2] / "configs" / "default.yaml")
    monkeypatch.setenv(ENV_SERVER_KEY, SERVER[0])
    monkeypatch.setenv(ENV_PUBLIC_KEY, CLIENT[0])
    monkeypatch.setenv(ENV_SECRET_KEY, CLIENT[1])
    [result] = safrl.score([{"prompt": "How do I bake bread?", "response": "Knead it."}],
                           config=config)
    assert result["tokens"] > 0
