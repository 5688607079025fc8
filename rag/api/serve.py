"""`python -m rag serve`: the API (rag.api.app) on uvicorn, for one Settings, until Ctrl-C.

Loopback by default; any other address needs API keys (RAG_API_KEYS), or it refuses to start: an open port
would let anyone on the network read the articles and delete them.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

import uvicorn

from rag.api.app import create_app
from rag.errors import RagError
from rag.pipeline import Pipeline

if TYPE_CHECKING:
    from rag.config import Settings


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(settings: Settings, host: str, port: int) -> None:
    """RagError unless serving on host:port is allowed and possible."""
    if not is_loopback(host) and not settings.keys:
        raise RagError(
            f"refusing to serve on {host} without API keys: anyone who can reach it could read and delete the "
            "articles; set RAG_API_KEYS to one or more secret tokens (comma-separated), or serve on 127.0.0.1"
        )
    if not 0 < port < 65536:
        raise RagError(f"--port must be between 1 and 65535, not {port}")
    try:
        with socket.create_server((host, port), family=_family(host)):
            pass
    except OSError as e:
        raise RagError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port") from e


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET


def serve(settings: Settings, host: str, port: int) -> None:
    """Load the index and the model once and serve requests until interrupted."""
    check_bind(settings, host, port)
    pipeline = Pipeline(settings)
    try:
        shown = f"[{host}]" if ":" in host else host
        print(f"cited: serving http://{shown}:{port} (API docs at /docs; Ctrl-C stops it)", flush=True)
        uvicorn.run(create_app(pipeline), host=host, port=port, log_level="warning")
    finally:
        pipeline.close()
