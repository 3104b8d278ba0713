"""A free TCP port on loopback, for the test helpers that start servers (live_server,
vllm_server). Picked and released: another process could take it first, which tests accept."""
import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
