"""The Redis connection both ``state.redis`` and ``pubsub.redis`` open from the metadata they share with daprd's
components: ``redisHost`` (``host:port``, or a host with ``redisPort``), ``redisDB``, ``redisUsername``,
``redisPassword``, ``enableTLS`` and ``dialTimeout``."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.errors import ComponentConfigError


def redis_client(component: Component) -> Any:
    """An asyncio Redis client for the component (not connected until first used)."""
    what = f"{component.type} {component.name}"
    host = component.value("redisHost")
    if not host:
        raise ComponentConfigError(f"{what}: metadata redisHost is required")
    hostname, _, port = host.rpartition(":")
    if not hostname:  # no port in redisHost: redisPort, else Redis's default (as daprd resolves it)
        hostname, port = host, component.value("redisPort") or "6379"
    if not hostname or not port.isdigit():
        raise ComponentConfigError(f"{what}: redisHost must be host:port, got {host!r}")
    db = component.value("redisDB", "0") or "0"
    if not db.isdigit():
        raise ComponentConfigError(f"{what}: redisDB must be a number, got {db!r}")
    timeout = parse_duration(component.value("dialTimeout", "5s") or "5s", field="dialTimeout")
    return aioredis.Redis(
        host=hostname,
        port=int(port),
        db=int(db),
        username=component.value("redisUsername") or None,
        password=component.value("redisPassword") or None,
        ssl=(component.value("enableTLS", "false") or "false").lower() == "true",
        socket_connect_timeout=timeout,
    )
