"""Typed errors of the sidecar's component layer: each carries a stable ``code``."""

from __future__ import annotations


class ComponentError(Exception):
    """A component could not be loaded, configured or used."""

    code = "component_error"


class ComponentFileError(ComponentError):
    """A component file is not valid YAML or not a valid Dapr Component document."""

    code = "component_file_invalid"


class ComponentConfigError(ComponentError):
    """A component's metadata is missing a required field or has an unusable value."""

    code = "component_config_invalid"


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
