"""The part of Dapr's ``Resiliency`` resources the sidecar applies: retries and timeouts of pub/sub deliveries.

A pub/sub component's inbound policy is ``targets.components.<name>.inbound``; without one, daprd's default
policies apply when defined, first match wins: ``DefaultPubsubComponentInboundRetryPolicy``,
``DefaultComponentInboundRetryPolicy``, ``DefaultComponentRetryPolicy``, ``DefaultRetryPolicy`` (the same names
with ``Timeout`` for timeouts). With neither, a delivery is tried once, as in daprd. Retry policies: ``constant``
(``duration``, default 5s) or ``exponential`` (from 500ms, times 1.5 with ±50 % jitter, up to ``maxInterval``,
default 60s); ``maxRetries`` -1 (default) retries for ever. Circuit breakers and ``matching`` are not applied.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dapr_components.duration import parse_duration
from dapr_components.spec import resource_documents
from sidecar.components.errors import ComponentFileError

log = logging.getLogger(__name__)

_DEFAULT_LEVELS = ("PubsubComponentInbound", "ComponentInbound", "Component", "")


@dataclass(frozen=True)
class RetryPolicy:
    policy: Literal["constant", "exponential"] = "constant"
    duration: float = 5.0
    max_interval: float = 60.0
    max_retries: int = -1
    initial_interval: float = 0.5
    multiplier: float = 1.5
    randomization: float = 0.5

    def delays(self) -> Iterator[float]:
        """The wait before each retry, for as many retries as the policy allows."""
        n = 0
        interval = self.initial_interval
        while self.max_retries < 0 or n < self.max_retries:
            n += 1
            if self.policy == "constant":
                yield self.duration
                continue
            spread = self.randomization * interval
            yield min(self.max_interval, random.uniform(interval - spread, interval + spread))
            interval = min(self.max_interval, interval * self.multiplier)


@dataclass(frozen=True)
class InboundPolicy:
    """What applies to each delivery of a pub/sub component's messages."""

    retry: RetryPolicy | None = None
    timeout: float | None = None


@dataclass
class Resiliency:
    retries: dict[str, RetryPolicy] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)
    inbound: dict[str, tuple[str, str]] = field(default_factory=dict)  # component -> (retry name, timeout name)

    def pubsub_inbound(self, component: str) -> InboundPolicy:
        if component in self.inbound:
            retry_name, timeout_name = self.inbound[component]
            return InboundPolicy(self.retries.get(retry_name), self.timeouts.get(timeout_name))
        retry = next((self.retries[n] for n in self._defaults("Retry") if n in self.retries), None)
        timeout = next((self.timeouts[n] for n in self._defaults("Timeout") if n in self.timeouts), None)
        return InboundPolicy(retry, timeout)

    @staticmethod
    def _defaults(what: str) -> list[str]:
        return [f"Default{level}{what}Policy" for level in _DEFAULT_LEVELS]


def _retry(name: str, spec: Any) -> RetryPolicy:
    if not isinstance(spec, dict):
        raise ComponentFileError(f"resiliency retry policy {name} must be a mapping")
    kind = str(spec.get("policy", "constant")).lower()
    if kind not in ("constant", "exponential"):
        raise ComponentFileError(f"resiliency retry policy {name}: unknown policy {kind!r}")
    max_retries = int(spec.get("maxRetries", -1))
    duration = parse_duration(str(spec.get("duration", "5s")), field=f"{name}.duration")
    max_interval = parse_duration(str(spec.get("maxInterval", "60s")), field=f"{name}.maxInterval")
    return RetryPolicy(
        policy="constant" if kind == "constant" else "exponential",
        duration=duration,
        max_interval=max_interval,
        max_retries=max_retries,
    )


def load_resiliency(resources_path: Path | None, app_id: str) -> Resiliency:
    """Every ``kind: Resiliency`` document for this app id under the resources path, merged."""
    found = Resiliency()
    if resources_path is None:
        return found
    for file, index, doc in resource_documents(resources_path, "Resiliency"):
        scopes = doc.get("scopes") or []
        if scopes and app_id not in scopes:
            continue
        spec = doc.get("spec") or {}
        policies = spec.get("policies") or {}
        try:
            for name, retry in (policies.get("retries") or {}).items():
                found.retries[str(name)] = _retry(str(name), retry)
            for name, timeout in (policies.get("timeouts") or {}).items():
                found.timeouts[str(name)] = parse_duration(str(timeout), field=f"timeout {name}")
            components = (spec.get("targets") or {}).get("components") or {}
            for name, target in components.items():
                inbound = (target or {}).get("inbound") or {}
                if inbound:
                    found.inbound[str(name)] = (str(inbound.get("retry", "")), str(inbound.get("timeout", "")))
        except (AttributeError, TypeError, ValueError) as exc:
            raise ComponentFileError(f"{file} document {index}: not a valid Dapr Resiliency: {exc}") from exc
    return found
