"""Endpoint errors as messages a person can act on: what failed, where, and what to change.

Two kinds, because the CLI answers them differently: :class:`EndpointConfigError` is the user's
input (a wrong URL, key, model name or parameter: exit 2, retrying cannot help) and
:class:`EndpointUnavailableError` is the server's state (rate limit, 5xx, timeouts that outlasted
every retry: exit 1, try again later). Every message goes through :func:`redact`, so the API key
never reaches a terminal, a log, the app or a file.
"""
from __future__ import annotations

from urllib.parse import urlsplit


class EndpointConfigError(ValueError):
    """The endpoint refused the request for a reason the user must fix (URL, key, model, parameters)."""


class EndpointUnavailableError(RuntimeError):
    """The endpoint kept failing transiently (429, 5xx, timeouts, dropped connections) past the last retry."""


def redact(text: str, secret: str | None) -> str:
    """``text`` with the secret (and any 8+ character piece of its start or end, as servers echo
    masked keys like 'sk-abcd...wxyz') replaced by '***'."""
    text = str(text)
    if not secret or secret == "EMPTY":
        return text
    text = text.replace(secret, "***")
    if len(secret) >= 16:
        for piece in (secret[:8], secret[-8:]):
            text = text.replace(piece, "***")
    return text


def endpoint_host(url: str) -> str:
    """scheme://host[:port]/path of an endpoint URL without user:password@ or query (what is recorded)."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/") if parts.scheme else str(url).split("?")[0]
