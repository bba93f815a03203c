"""Go-style durations (``500ms``, ``2s``, ``1h30m``) as Dapr component metadata writes them."""

from __future__ import annotations

import re

from dapr_components.errors import ComponentConfigError

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, field: str = "duration") -> float:
    """Seconds in a Go duration string; a bare number is taken as seconds (as several Dapr components allow)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(value):
        match = _PART.match(value, pos)
        if match is None:
            raise ComponentConfigError(f"{field}: {text!r} is not a duration like '500ms', '2s' or '1h30m'")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not value:
        raise ComponentConfigError(f"{field}: empty duration")
    return total
