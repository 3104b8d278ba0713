"""safrl: the Python side of the safrl reward server (docs/plugin.md).

    import safrl
    with safrl.Client("tcp://gpu-node:5555") as client:
        results = client.score([{"prompt": "...", "response": "..."}], step=3)

Clients: safrl.Client (blocking) and safrl.AsyncClient (asyncio), over ZeroMQ + msgpack
(docs/protocol.md). Trainer adapters: safrl.verl, safrl.trl, safrl.openrlhf; they share clients
configured by $SAFRL_ENDPOINT or safrl.configure(). No server to run: safrl.score(samples,
config=...) and safrl.LocalServer start a private `safrl serve` (safrl.local). Errors:
safrl.SafrlError and its subclasses.
"""
from safrl._version import __version__
from safrl.async_client import AsyncClient
from safrl.client import Client
from safrl.errors import BadRequest, SafrlError, ServerBusy, ServerError, Timeout
from safrl._default import configure
from safrl.local import LocalServer, ServerStartError, score
from safrl import openrlhf, trl, verl

__all__ = ["Client", "AsyncClient", "configure", "score", "LocalServer", "SafrlError",
           "BadRequest", "ServerBusy", "Timeout", "ServerError", "ServerStartError", "openrlhf",
           "trl", "verl", "__version__"]
