"""``state.redis``: keys are hashes with ``data`` and ``version`` fields, as in Dapr's Redis state store.

The etag is the version number. Every write goes through one Lua script that checks all etags first and only then
applies all operations, so a transaction is atomic and all-or-nothing.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from dapr_components.spec import Component
from sidecar.components.errors import ETagInvalidError, ETagMismatchError
from sidecar.components.redis_client import redis_client
from sidecar.components.state import StateEntry, StateOperation, StateStore

# ARGV per operation: kind ("u"/"d"), etag ("" = none), first-write ("1"/"0"), ttl ("" / "-1" / seconds), data.
_TRANSACT = """
local n = #KEYS
for i = 1, n do
  local base = (i - 1) * 5
  local etag = ARGV[base + 2]
  local cur = redis.call('HGET', KEYS[i], 'version')
  if etag ~= '' then
    if (not cur) or cur ~= etag then return redis.error_reply('ETAG_MISMATCH ' .. KEYS[i]) end
  elseif ARGV[base + 1] == 'u' and ARGV[base + 3] == '1' and cur then
    return redis.error_reply('ETAG_MISMATCH ' .. KEYS[i])
  end
end
for i = 1, n do
  local base = (i - 1) * 5
  if ARGV[base + 1] == 'd' then
    redis.call('DEL', KEYS[i])
  else
    redis.call('HINCRBY', KEYS[i], 'version', 1)
    redis.call('HSET', KEYS[i], 'data', ARGV[base + 5])
    local ttl = ARGV[base + 4]
    if ttl ~= '' and tonumber(ttl) > 0 then
      redis.call('EXPIRE', KEYS[i], tonumber(ttl))
    else
      redis.call('PERSIST', KEYS[i])
    end
  end
end
return n
"""


class RedisStateStore(StateStore):
    def __init__(self, component: Component) -> None:
        self._client: Any = redis_client(component)
        ttl = component.value("ttlInSeconds")
        self._default_ttl = int(ttl) if ttl and ttl.lstrip("-").isdigit() else None
        self._script: Any = self._client.register_script(_TRANSACT)

    async def init(self) -> None:
        await self._client.ping()

    async def get(self, key: str) -> StateEntry | None:
        data, version = await self._client.hmget(key, ["data", "version"])
        if data is None and version is None:
            return None
        return StateEntry(key=key, value=data or b"", etag=(version or b"").decode())

    async def bulk_get(self, keys: list[str]) -> list[StateEntry | None]:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, ["data", "version"])
            rows = await pipe.execute()
        out: list[StateEntry | None] = []
        for key, (data, version) in zip(keys, rows, strict=True):
            out.append(None if data is None and version is None else StateEntry(key, data or b"", version.decode()))
        return out

    async def transact(self, ops: list[StateOperation]) -> None:
        if not ops:
            return
        keys: list[str] = []
        args: list[str | bytes] = []
        for op in ops:
            if op.etag and not op.etag.isdigit():
                raise ETagInvalidError(f"etag {op.etag!r} is not a Redis version number")
            ttl = op.ttl_seconds if op.ttl_seconds is not None else self._default_ttl
            keys.append(op.key)
            args += [
                "d" if op.kind == "delete" else "u",
                op.etag or "",
                "1" if op.first_write else "0",
                "" if ttl is None else str(ttl),
                op.value,
            ]
        try:
            await self._script(keys=keys, args=args)
        except ResponseError as exc:
            if "ETAG_MISMATCH" in str(exc):
                raise ETagMismatchError(f"possible etag mismatch: {exc}") from exc
            raise

    async def close(self) -> None:
        await self._client.aclose()
