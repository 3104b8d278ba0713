"""CURVE (ZeroMQ's public-key encryption and authentication) for the safrl clients.

    server_public, server_secret = safrl.curve.keypair()   # the server's, in server.curve
    public, secret = safrl.curve.keypair()                  # the trainer's, in allowed_client_keys
    client = safrl.Client("tcp://gpu-node:5555", server_key=server_public,
                          client_keys=(public, secret))

Keys are Z85 text, 40 characters, as zmq.curve_keypair() and the server's config write them.
A client given no keys reads $SAFRL_CURVE_SERVER_KEY, $SAFRL_CURVE_PUBLIC_KEY and
$SAFRL_CURVE_SECRET_KEY (all three or none), the way safrl.ray hands keys to a trainer's workers,
unless all its endpoints are ipc:// (such as a LocalServer's private one, which has no CURVE).

A server that refuses the client (its key or address not allowed, or a CURVE server met by a
plain client) answers nothing, so without a watch the client would only time out; HandshakeWatch
reads the socket's monitor and turns the refusal into AccessRefused at once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import zmq
from zmq.utils.monitor import parse_monitor_message

from safrl.errors import ServerError

__all__ = ["CurveKeys", "AccessRefused", "keypair", "resolve", "check_pair", "ENV_SERVER_KEY", "ENV_PUBLIC_KEY",
           "ENV_SECRET_KEY"]

ENV_SERVER_KEY = "SAFRL_CURVE_SERVER_KEY"
ENV_PUBLIC_KEY = "SAFRL_CURVE_PUBLIC_KEY"
ENV_SECRET_KEY = "SAFRL_CURVE_SECRET_KEY"

_Z85 = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
           ".-:+=^!/*?&<>()[]{}@%$#")

# The monitor events a watch reads: refusals, handshakes that broke off, and successes (which
# clear the count of those that broke off).
_EVENTS = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_SUCCEEDED)
# A CURVE server that cannot open a client's HELLO (the client has a wrong server key) just
# closes the connection, which a server dying mid-handshake also does; only this many in a row on
# one endpoint, with none succeeding, are taken for a wrong key.
BROKEN_HANDSHAKES = 3


class AccessRefused(ServerError):
    """The server refused this client's connection: a key or address it does not allow, or a
    security mechanism other than the server's. Never retried: retrying cannot help; fix the
    keys or the server's allow-lists."""


def keypair() -> Tuple[str, str]:
    """A new (public, secret) key pair, Z85 text."""
    public, secret = zmq.curve_keypair()
    return public.decode("ascii"), secret.decode("ascii")


@dataclass(frozen=True)
class CurveKeys:
    """A client's CURVE keys: the server's public key and the client's own pair."""

    server_key: str
    public_key: str
    secret_key: str

    def apply(self, sock: zmq.Socket) -> None:
        """Makes `sock` a CURVE client; before it connects."""
        sock.curve_serverkey = self.server_key.encode("ascii")
        sock.curve_publickey = self.public_key.encode("ascii")
        sock.curve_secretkey = self.secret_key.encode("ascii")


def _key(value: Any, what: str) -> str:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if not isinstance(text, str) or len(text) != 40 or not set(text) <= _Z85:
        shown = f"{len(text)} characters" if isinstance(text, str) else type(value).__name__
        raise ValueError(f"{what} must be a 40-character Z85 CURVE key (as safrl.curve.keypair() "
                         f"or zmq.curve_keypair() make), got {shown}")
    return text


def resolve(server_key: Any = None, client_keys: Optional[Sequence[Any]] = None,
            environ: Optional[Dict[str, str]] = None,
            endpoints: Sequence[str] = ()) -> Optional[CurveKeys]:
    """The client's keys: the arguments, else the environment's (unless every one of
    `endpoints` is ipc://), else None (a plain client). Raises ValueError, saying which key, when
    they are malformed or incomplete."""
    if server_key is None and client_keys is None:
        if endpoints and all(endpoint.startswith("ipc://") for endpoint in endpoints):
            return None
        env = os.environ if environ is None else environ
        names = (ENV_SERVER_KEY, ENV_PUBLIC_KEY, ENV_SECRET_KEY)
        given = [name for name in names if env.get(name)]
        if not given:
            return None
        if len(given) != len(names):
            missing = ", ".join(name for name in names if name not in given)
            raise ValueError(f"{', '.join(given)} set but not {missing}: a CURVE client needs "
                             "the server's public key and its own key pair")
        server_key, client_keys = env[ENV_SERVER_KEY], (env[ENV_PUBLIC_KEY], env[ENV_SECRET_KEY])
    if server_key is None or client_keys is None:
        raise ValueError("a CURVE client needs both server_key (the server's public key) and "
                         "client_keys=(public, secret), whose public key the server lists in "
                         "server.curve.allowed_client_keys")
    if isinstance(client_keys, (str, bytes)) or len(client_keys) != 2:
        raise ValueError("client_keys must be a (public, secret) pair of Z85 keys")
    public, secret = check_pair(client_keys[0], client_keys[1], "client_keys")
    return CurveKeys(_key(server_key, "server_key"), public, secret)


def check_pair(public: Any, secret: Any, what: str) -> Tuple[str, str]:
    """(public, secret) as Z85 text; ValueError naming `what` unless they are one key pair."""
    public, secret = _key(public, f"{what}'s public key"), _key(secret, f"{what}'s secret key")
    if zmq.curve_public(secret.encode("ascii")).decode("ascii") != public:
        raise ValueError(f"{what}: the public key is not the secret key's: give the pair "
                         "keypair() made together")
    return public, secret


class HandshakeWatch:
    """The monitor of one client socket: raises AccessRefused when a server refused it."""

    def __init__(self, sock: zmq.Socket, keys: Optional[CurveKeys]) -> None:
        self.keys = keys
        self.monitor = sock.get_monitor_socket(_EVENTS)
        self._broken: Dict[str, int] = {}  # endpoint -> handshakes broken off in a row

    def refusal(self, frames: Sequence[bytes]) -> Optional[AccessRefused]:
        """The error that one monitor message means, if any."""
        event = parse_monitor_message(list(frames))
        endpoint = event["endpoint"].decode() if isinstance(event["endpoint"], bytes) \
            else event["endpoint"]
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._broken.pop(endpoint, None)
            return None
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            self._broken[endpoint] = self._broken.get(endpoint, 0) + 1
            if self._broken[endpoint] < BROKEN_HANDSHAKES:
                return None
            if self.keys is None:
                return AccessRefused(
                    f"the server at {endpoint} broke off {self._broken[endpoint]} handshakes in "
                    "a row: it likely has server.curve; give server_key and client_keys (or "
                    f"${ENV_SERVER_KEY}, ${ENV_PUBLIC_KEY}, ${ENV_SECRET_KEY})")
            return AccessRefused(
                f"the server at {endpoint} broke off {self._broken[endpoint]} CURVE handshakes "
                f"in a row: server_key {self.keys.server_key} is likely not its public key "
                "(server.curve.public_key), or the server has no server.curve at all (then give "
                "no keys)")
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            if event["value"] != zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
                return None  # a broken peer, not a refusal: the request times out as before
            return AccessRefused(
                f"the server at {endpoint} uses another security mechanism than this client "
                f"({'CURVE' if self.keys else 'none'}): give server_key and client_keys (or "
                f"${ENV_SERVER_KEY}, ${ENV_PUBLIC_KEY}, ${ENV_SECRET_KEY}) for a server with "
                "server.curve, none for one without")
        who = (f"its address, or its CURVE public key {self.keys.public_key}," if self.keys
               else "its address")
        return AccessRefused(
            f"the server at {endpoint} refused this client (ZAP status {event['value']}): "
            f"{who} is not allowed there; add it to server.allowed_clients or "
            "server.curve.allowed_client_keys, or use the keys the server was given")

    def check(self) -> None:
        """Raises AccessRefused for a refusal seen so far; never blocks."""
        while True:
            try:
                frames = self.monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            error = self.refusal(frames)
            if error is not None:
                raise error

    def close(self) -> None:
        self.monitor.close(linger=0)
