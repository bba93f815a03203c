"""Dapr component files: the ``Component`` model, the reader of a resources path, and Go durations.

Below both the local sidecar (which serves the components) and the application (which reads the same files for what
Dapr's APIs do not carry, such as a conversation component's vision model or context size). It imports neither: a
cluster runs the app without the local sidecar, and the sidecar stands alone.
"""

from __future__ import annotations

from dapr_components.duration import parse_duration
from dapr_components.errors import ComponentConfigError, ComponentError, ComponentFileError
from dapr_components.spec import Component, SecretKeyRef, find_component, load_component_documents

__all__ = [
    "Component",
    "ComponentConfigError",
    "ComponentError",
    "ComponentFileError",
    "SecretKeyRef",
    "find_component",
    "load_component_documents",
    "parse_duration",
]
