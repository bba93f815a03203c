"""Errors of reading Dapr component files; each carries a stable ``code``. The sidecar's component errors
(``sidecar.components.errors``) are subclasses of :class:`ComponentError`."""

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
