"""Binding components: output bindings the app invokes, input bindings that call the app."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

__all__ = ["APP_TOKEN_HEADER", "BindingResponse", "InputBinding", "OutputBinding", "app_headers"]

# daprd sends its APP_API_TOKEN in this header on every call to the app, so the app can refuse anyone else.
APP_TOKEN_HEADER = "dapr-api-token"


def app_headers(app_token: str | None) -> dict[str, str]:
    """The headers every call to the app carries (none without a token)."""
    return {APP_TOKEN_HEADER: app_token} if app_token else {}


@dataclass(frozen=True)
class BindingResponse:
    data: bytes = b""
    metadata: dict[str, str] = field(default_factory=dict)


class OutputBinding(ABC):
    operations: tuple[str, ...] = ()

    @abstractmethod
    async def invoke(self, operation: str, data: bytes, metadata: dict[str, str]) -> BindingResponse: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class InputBinding(ABC):
    """An input binding delivers events to the app; ``run`` is a task the runtime starts and cancels."""

    @abstractmethod
    async def run(self) -> None: ...
