"""The clients the trainer adapters share, created on first use.

Trainers call reward functions with no place to pass a client, so the adapters use these: one
safrl.Client per process (re-created in a forked child, whose inherited sockets are unusable) and
one safrl.AsyncClient per event loop. Their endpoint is $SAFRL_ENDPOINT (else the default) unless
safrl.configure() set one.
"""
from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any, Dict, List, Optional

from safrl import _protocol as proto
from safrl.async_client import AsyncClient
from safrl.client import Client

_lock = threading.Lock()
_endpoint: proto.Endpoint = None
_options: Dict[str, Any] = {}
_client: Optional[Client] = None
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient]" = \
    weakref.WeakKeyDictionary()
# Clients inherited from a parent process. They are kept, never closed nor garbage-collected:
# either would touch ZeroMQ state that belongs to the parent.
_inherited: List[Any] = []


def configure(endpoint: proto.Endpoint = None, **options: Any) -> None:
    """Sets the endpoint and the Client options (timeout, retries, ...) the adapters use.

    endpoint None means $SAFRL_ENDPOINT, read when the next client is made. Clients made before
    are closed; the next adapter call makes new ones.
    """
    global _endpoint, _options, _client
    if endpoint is not None:
        proto.resolve_endpoints(endpoint)  # refuse a bad endpoint now, not at the first reward
    proto.Settings(**options)  # likewise for unknown or invalid options
    with _lock:
        old_client, _client = _client, None
        old_async: List[AsyncClient] = list(_async_clients.values())
        _async_clients.clear()
        _endpoint, _options = endpoint, dict(options)
    if old_client is not None:
        old_client.close()
    for client in old_async:
        client.close_threadsafe()


def client() -> Client:
    """This process's shared Client."""
    global _client
    with _lock:
        if _client is not None and _client._pid != os.getpid():
            _inherited.append(_client)
            _client = None
        if _client is None:
            _client = Client(_endpoint, **_options)
        return _client


def async_client() -> AsyncClient:
    """The shared AsyncClient of the running event loop."""
    loop = asyncio.get_running_loop()
    with _lock:
        found = _async_clients.get(loop)
        if found is not None and found._pid != os.getpid():
            _inherited.append(found)
            found = None
        if found is None or found._closed:
            found = _async_clients[loop] = AsyncClient(_endpoint, **_options)
        return found
