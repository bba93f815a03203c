"""``bindings.cron``: an input binding that calls the app's ``POST /<binding-name>`` on a schedule, as daprd does.

``schedule`` is ``@every <duration>``, a descriptor (``@hourly``, ``@daily``, ...) or a cron expression with
5 fields or 6 fields (seconds first), like daprd's parser. Before the first delivery the app is asked
``OPTIONS /<route>``; a 404 means it does not listen to this binding and nothing is delivered (daprd's rule).
Deliveries never overlap: the next tick is timed from the end of the previous delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import aiohttp
from croniter import croniter  # type: ignore[import-untyped]

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.bindings import InputBinding, app_headers
from sidecar.components.errors import ComponentConfigError

log = logging.getLogger(__name__)

_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


class Schedule:
    """When the next tick is due: a fixed interval or a cron expression."""

    def __init__(self, text: str) -> None:
        spec = text.strip()
        self.interval: float | None = None
        self.expr: str | None = None
        if spec.startswith("@every"):
            self.interval = parse_duration(spec.removeprefix("@every").strip(), field="schedule")
            if self.interval <= 0:
                raise ComponentConfigError(f"schedule {text!r}: interval must be positive")
            return
        expr = _DESCRIPTORS.get(spec, spec)
        fields = expr.split()
        if len(fields) == 5:
            expr = "0 " + expr
        elif len(fields) != 6:
            raise ComponentConfigError(f"schedule {text!r}: expected @every <duration> or a cron expression")
        if not croniter.is_valid(expr, second_at_beginning=True):
            raise ComponentConfigError(f"schedule {text!r} is not a valid cron expression")
        self.expr = expr

    def next_delay(self, now: float) -> float:
        if self.interval is not None:
            return self.interval
        assert self.expr is not None
        nxt = croniter(self.expr, datetime.fromtimestamp(now, UTC), second_at_beginning=True).get_next(float)
        return max(0.0, float(nxt) - now)


class CronBinding(InputBinding):
    def __init__(self, component: Component, *, app_host: str, app_port: int, app_token: str | None = None) -> None:
        schedule = component.value("schedule")
        if not schedule:
            raise ComponentConfigError(f"bindings.cron {component.name}: metadata schedule is required")
        self.name = component.name
        self.schedule = Schedule(schedule)
        route = component.value("route") or f"/{component.name}"
        self.url = f"http://{app_host}:{app_port}/{route.lstrip('/')}"
        self.headers = app_headers(app_token)
        self.deliveries = 0

    async def _subscribed(self, session: aiohttp.ClientSession) -> bool | None:
        """True/False once the app answered OPTIONS; None while the app is not reachable yet."""
        try:
            async with session.options(self.url, headers=self.headers) as resp:
                return resp.status != 404
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _deliver(self, session: aiohttp.ClientSession) -> None:
        now = datetime.now(UTC)
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "timeZone": "UTC",
            "readTimeUTC": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        try:
            async with session.post(self.url, data=b"", headers=headers) as resp:
                if resp.status >= 300:
                    log.warning("cron binding %s: app answered %d on %s", self.name, resp.status, self.url)
                self.deliveries += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cron binding %s: cannot reach the app at %s: %s", self.name, self.url, exc)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            subscribed: bool | None = None
            while True:
                await asyncio.sleep(self.schedule.next_delay(time.time()))
                if subscribed is None:
                    subscribed = await self._subscribed(session)
                    if subscribed is False:
                        log.info("cron binding %s: the app has no route %s; not delivering", self.name, self.url)
                        return
                    if subscribed is None:
                        log.debug("cron binding %s: app not reachable yet", self.name)
                        continue
                await self._deliver(session)
