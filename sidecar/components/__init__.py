"""Component loading: read a resources path once at start and build one live component per document.

Like daprd: secret stores are built first, then every other component's ``secretKeyRef`` metadata is resolved
through the store named in its ``auth.secretStore``; components scoped to other app ids are skipped; a component
that fails to initialise stops start-up unless it says ``ignoreErrors: true``. Unlike daprd, a type the docline
sidecar cannot serve is logged as an error and skipped (daprd would refuse to start).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dapr_components.spec import Component, MetadataItem, load_component_documents
from sidecar.components.bindings import InputBinding, OutputBinding
from sidecar.components.conversation import ConversationComponent
from sidecar.components.errors import ComponentConfigError, ComponentError, ComponentFileError, SecretNotFoundError
from sidecar.components.pubsub import PubSub
from sidecar.components.secretstores import SecretStore
from sidecar.components.state import StateStore

__all__ = ["SUPPORTED_TYPES", "LoadedComponents", "RegisteredComponent", "load_components"]

log = logging.getLogger(__name__)

# type -> (module, class); imported only when a component of that type is loaded.
SUPPORTED_TYPES: dict[str, tuple[str, str]] = {
    "state.sqlite": ("sidecar.components.state.sqlite", "SQLiteStateStore"),
    "state.redis": ("sidecar.components.state.redis", "RedisStateStore"),
    "state.postgresql": ("sidecar.components.state.postgresql", "PostgreSQLStateStore"),
    "bindings.localstorage": ("sidecar.components.bindings.localstorage", "LocalStorageBinding"),
    "bindings.cron": ("sidecar.components.bindings.cron", "CronBinding"),
    "bindings.http": ("sidecar.components.bindings.http", "HTTPBinding"),
    "pubsub.in-memory": ("sidecar.components.pubsub.memory", "InMemoryPubSub"),
    "pubsub.redis": ("sidecar.components.pubsub.redis", "RedisStreamsPubSub"),
    "conversation.openai": ("sidecar.components.conversation.openai", "OpenAIConversation"),
    "conversation.ollama": ("sidecar.components.conversation.openai", "OllamaConversation"),
    "conversation.anthropic": ("sidecar.components.conversation.anthropic", "AnthropicConversation"),
    "conversation.echo": ("sidecar.components.conversation.echo", "EchoConversation"),
    "secretstores.local.env": ("sidecar.components.secretstores", "LocalEnvSecretStore"),
    "secretstores.local.file": ("sidecar.components.secretstores", "LocalFileSecretStore"),
}


@dataclass(frozen=True)
class RegisteredComponent:
    """What the metadata API reports for a loaded component."""

    name: str
    type: str
    version: str
    capabilities: tuple[str, ...] = ()


@dataclass
class LoadedComponents:
    """The live components, by name, per building block."""

    app_id: str
    state: dict[str, StateStore] = field(default_factory=dict)
    state_key_prefix: dict[str, str] = field(default_factory=dict)
    output_bindings: dict[str, OutputBinding] = field(default_factory=dict)
    input_bindings: dict[str, InputBinding] = field(default_factory=dict)
    conversation: dict[str, ConversationComponent] = field(default_factory=dict)
    secrets: dict[str, SecretStore] = field(default_factory=dict)
    pubsub: dict[str, PubSub] = field(default_factory=dict)
    # a pub/sub component's plain metadata: the runtime reads its topic scopes (allowedTopics, ...) from it
    pubsub_metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    registered: list[RegisteredComponent] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    async def close(self) -> None:
        for store in self.state.values():
            await _quietly(store.close())
        for binding in self.output_bindings.values():
            await _quietly(binding.close())
        for llm in self.conversation.values():
            await _quietly(llm.close())
        for broker in self.pubsub.values():
            await _quietly(broker.close())


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("error while closing a component")


def _resolve_secrets(component: Component, secrets: dict[str, SecretStore]) -> Component:
    refs = component.secret_refs()
    if not refs:
        return component
    store_name = component.auth.secret_store if component.auth else None
    if not store_name:
        raise ComponentConfigError(f"component {component.name}: secretKeyRef needs auth.secretStore")
    store = secrets.get(store_name)
    if store is None:
        raise ComponentConfigError(f"component {component.name}: secret store {store_name} is not loaded")
    items: list[MetadataItem] = []
    for item in component.spec.metadata:
        ref = item.secret_key_ref
        if ref is None:
            items.append(item)
            continue
        try:
            secret = store.get(ref.name)
        except SecretNotFoundError as exc:
            raise ComponentConfigError(f"component {component.name}: {exc} in secret store {store_name}") from exc
        key = ref.key or ref.name
        if key not in secret:
            raise ComponentConfigError(f"component {component.name}: secret {ref.name} has no key {key}")
        items.append(MetadataItem(name=item.name, value=secret[key]))
    spec = component.spec.model_copy(update={"metadata": items})
    return component.model_copy(update={"spec": spec})


def _class_for(component_type: str) -> Any:
    module, cls = SUPPORTED_TYPES[component_type]
    return getattr(importlib.import_module(module), cls)


def _key_prefix(component: Component, app_id: str) -> str:
    """daprd's ``keyPrefix``: appid (default) | name | none | any other string; returns the prefix ("" = none)."""
    strategy = component.value("keyPrefix", "appid") or "appid"
    match strategy.lower():
        case "appid":
            return app_id
        case "name":
            return component.name
        case "none":
            return ""
        case _:
            if "||" in strategy:
                raise ComponentConfigError(f"state {component.name}: keyPrefix must not contain '||'")
            return strategy


async def load_components(
    resources_path: Path | None,
    *,
    app_id: str,
    app_host: str = "127.0.0.1",
    app_port: int | None = None,
    app_token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedComponents:
    """Read and initialise every component under ``resources_path`` (none if it is None); ``environ`` fills the
    files' {{NAME}} placeholders (default: the process environment)."""
    loaded = LoadedComponents(app_id=app_id)
    if resources_path is None:
        return loaded
    documents = load_component_documents(resources_path, environ)
    seen: dict[str, str] = {}
    usable: list[Component] = []
    for comp in documents:
        where = f"{comp.name} ({comp.type}, {comp.source})"
        if not comp.is_scoped_for(app_id):
            log.info("component %s is scoped to %s, not to %s; skipped", where, comp.scopes, app_id)
            continue
        if comp.type not in SUPPORTED_TYPES:
            reason = f"type {comp.type} is not supported by the docline sidecar"
            log.error("component %s: %s; skipped (supported: %s)", where, reason, ", ".join(sorted(SUPPORTED_TYPES)))
            loaded.skipped[comp.name] = reason
            continue
        if comp.spec.version != "v1":
            reason = f"version {comp.spec.version} of {comp.type} is not supported (only v1)"
            log.error("component %s: %s; skipped", where, reason)
            loaded.skipped[comp.name] = reason
            continue
        block = comp.type.split(".", 1)[0]
        if seen.get(comp.name) == block:
            raise ComponentFileError(f"component name {comp.name} is defined twice for {block}")
        seen[comp.name] = block
        usable.append(comp)

    # Secret stores first: the others may reference them.
    ordered = sorted(usable, key=lambda c: not c.type.startswith("secretstores."))
    try:
        for comp in ordered:
            try:
                await _init_one(loaded, comp, app_host=app_host, app_port=app_port, app_token=app_token)
            except ComponentError as exc:
                if not comp.spec.ignore_errors:
                    raise
                log.error("component %s failed to initialise (ignoreErrors: true): %s", comp.name, exc)
                loaded.skipped[comp.name] = str(exc)
            except Exception as exc:
                if not comp.spec.ignore_errors:
                    raise ComponentError(f"component {comp.name} ({comp.type}) failed to initialise: {exc}") from exc
                log.error("component %s failed to initialise (ignoreErrors: true): %s", comp.name, exc)
                loaded.skipped[comp.name] = str(exc)
    except BaseException:
        await loaded.close()
        raise
    return loaded


async def _init_one(
    loaded: LoadedComponents, comp: Component, *, app_host: str, app_port: int | None, app_token: str | None = None
) -> None:
    comp = _resolve_secrets(comp, loaded.secrets)
    cls = _class_for(comp.type)
    block = comp.type.split(".", 1)[0]
    caps: tuple[str, ...] = ()
    if block == "secretstores":
        loaded.secrets[comp.name] = cls(comp)
    elif block == "state":
        prefix = _key_prefix(comp, loaded.app_id)
        store: StateStore = cls(comp)
        await store.init()
        loaded.state[comp.name] = store
        loaded.state_key_prefix[comp.name] = prefix
        caps = store.features
    elif block == "pubsub":
        broker: PubSub = cls(comp, consumer_id=loaded.app_id)  # daprd's default consumerID is the app id
        await broker.init()
        loaded.pubsub[comp.name] = broker
        loaded.pubsub_metadata[comp.name] = comp.plain_metadata()
        caps = broker.features
    elif block == "conversation":
        llm: ConversationComponent = cls(comp)
        await llm.init()
        loaded.conversation[comp.name] = llm
    elif comp.type == "bindings.cron":
        if app_port is None:
            log.info("input binding %s: no app port, so nothing to deliver to; not started", comp.name)
            cls(comp, app_host=app_host, app_port=0)  # still validate the schedule
        else:
            loaded.input_bindings[comp.name] = cls(comp, app_host=app_host, app_port=app_port, app_token=app_token)
        caps = ("INPUT_BINDING",)
    else:
        loaded.output_bindings[comp.name] = cls(comp)
        caps = ("OUTPUT_BINDING",)
    loaded.registered.append(RegisteredComponent(comp.name, comp.type, comp.spec.version, caps))
    log.info("component loaded: %s (%s/%s)", comp.name, comp.type, comp.spec.version)
