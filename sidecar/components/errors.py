"""Typed errors of the sidecar's component layer: each carries a stable ``code``."""

from __future__ import annotations

# Reading component files raises these; they live below the sidecar (the app reads the same files).
from dapr_components.errors import ComponentConfigError, ComponentError, ComponentFileError

__all__ = [
    "BindingOperationError",
    "ComponentConfigError",
    "ComponentError",
    "ComponentFileError",
    "ConversationError",
    "ConversationRefused",
    "ETagInvalidError",
    "ETagMismatchError",
    "SecretNotFoundError",
    "UnsupportedComponentError",
]


class UnsupportedComponentError(ComponentError):
    """The component type (or version) is not one the docline sidecar can serve."""

    code = "component_type_unsupported"


class ETagMismatchError(ComponentError):
    """A state write or delete carried an etag that does not match the stored one (or first-write lost)."""

    code = "etag_mismatch"


class ETagInvalidError(ComponentError):
    """A state etag was malformed for the store (e.g. not a version number on Redis)."""

    code = "etag_invalid"


class BindingOperationError(ComponentError):
    """An output binding operation failed (unknown operation, missing file, bad path)."""

    code = "binding_operation_failed"


class SecretNotFoundError(ComponentError):
    """The secret store has no secret under the requested key."""

    code = "secret_not_found"


class ConversationError(ComponentError):
    """The LLM provider failed after retries, or returned something unusable."""

    code = "conversation_failed"


class ConversationRefused(ConversationError):
    """The provider refused the request as it was asked (HTTP 4xx, or a 5xx saying the request was invalid): it was
    not retried, since asking the same again cannot help. ``status`` is the provider's HTTP status."""

    code = "conversation_refused"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
