"""docline's application settings: read once at start-up (env prefix ``DOCLINE_``) and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the application can be told. Component names match the files in ``components/``."""

    model_config = SettingsConfigDict(env_prefix="DOCLINE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    resources_path: Path = Path("components")
    data: Path = Field(
        Path(".docline"),
        description="everything local: the embedded sidecar's database and the files the shipped components keep",
    )
    # Where the Dapr sidecar listens; unset means "start an embedded `docline sidecar`" (serve/extract only).
    dapr_grpc_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("DAPR_GRPC_ENDPOINT", "DOCLINE_DAPR_GRPC_ENDPOINT")
    )
    dapr_http_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("DAPR_HTTP_ENDPOINT", "DOCLINE_DAPR_HTTP_ENDPOINT")
    )
    # Bearer token for every /v1 route; unset means no authentication (a blank one is refused, never "off").
    api_token: SecretStr | None = None
    # More tokens, by name (JSON: {"alice": "...", "bob": "..."}): a review records the name of the token it came
    # with (DOCLINE_API_TOKEN's name is "api").
    api_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # A header the proxy in front of docline sets to the signed-in user (e.g. X-Forwarded-User): a review records it
    # as the reviewer. Set it only when the proxy also strips that header from what clients send.
    reviewer_header: str | None = None
    # Dapr's app API token: the sidecar sends it as `dapr-api-token` on every call to the app (daprd reads
    # APP_API_TOKEN; on Kubernetes the `dapr.io/app-token-secret` annotation sets it for both containers). Binding
    # callbacks without it are refused; an embedded sidecar gets a fresh one when it is unset.
    app_api_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("APP_API_TOKEN", "DOCLINE_APP_API_TOKEN")
    )
    # /metrics on a port of its own (no token there: keep the port inside the cluster); unset: on the API port,
    # behind the API token when one is set.
    metrics_port: int | None = Field(None, ge=1, le=65535)

    state_store: str = "docline-state"
    blob_binding: str = "docline-blobs"
    outbox_binding: str = "docline-outbox"
    inbox_binding: str = "docline-inbox"
    inbox_scan_route: str = "docline-inbox-scan"
    # A conversation component name; unset means "the first conversation.* component the sidecar reports".
    conversation_component: str | None = None
    types: list[Path] = Field(default_factory=list, description="user-defined document types (JSON Schema or .py)")
    vision: bool = Field(True, description="let a vision model read unsure documents' pages, when there is one")
    # A conversation component whose model reads images; unset: the conversation component, if it declares one
    # (metadata `visionModel`). A text-only component never receives images.
    vision_component: str | None = None
    offline: bool = Field(False, description="never call an LLM: use the offline extractor")
    # With a model: "hybrid" asks it only for what the offline extractor could not settle; "llm" for every field.
    extraction: Literal["hybrid", "llm"] = "hybrid"
    # Off by default: on real multi-page single documents the split signals are often unsure (poor scans), and an
    # unsure split waits for a reviewer (bench/bundles.py: about a third of held-out single documents would).
    bundles: bool = Field(False, description="split a file of several documents into one document per part")

    trace_console: bool = Field(False, description="print finished OpenTelemetry spans to stdout")

    # Document events: each status change as a CloudEvent through a pub/sub component and/or an HTTP output binding
    # (a webhook signed with HMAC-SHA256 using the secret `events_secret_name` of the secret store).
    events_pubsub: str | None = None
    events_topic: str = "docline-documents"
    events_binding: str | None = None
    events_secret_store: str | None = None
    events_secret_name: str = "docline-webhook-secret"
    events_include_data: bool = Field(False, description="add the extracted data (personal data) to events")
    events_max_attempts: int = Field(20, ge=1, description="publish attempts, with back-off up to 5 minutes")
    public_url: str | None = Field(None, description="base of result URLs in events; default http://host:port")

    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0)
    # The sidecar's largest request, in bytes: daprd's --max-body-size (dapr.io/max-body-size; default 4 MiB), which
    # an embedded sidecar is given. An inbox file is read and moved in one binding call (base64: 4/3 of its size), so
    # the inbox takes files up to about three quarters of it; uploads over REST go in parts and fit any limit.
    dapr_max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    max_pages: int = Field(200, gt=0)
    # One page's pixels as stored, once scaled for OCR and when drawn from a PDF; over it: rejected, page_too_large.
    max_page_pixels: int = Field(100_000_000, gt=0)
    # Tesseract languages; unset lets OCR choose per page (script detection, then the text's language).
    ocr_languages: list[str] | None = None
    # Re-read the words Tesseract is unsure of (handwriting) with a second engine: "rapidocr" (PP-OCR, needs
    # `pip install 'docline[rapidocr]'`). Unset: Tesseract alone.
    ocr_second_reader: Literal["rapidocr"] | None = None
    review_timeout_seconds: float = Field(7 * 24 * 3600, gt=0)
    # Finished documents (completed, failed, rejected) are erased as by DELETE this long after their last change.
    retention_days: float | None = Field(None, gt=0)
    retention_check_seconds: float = Field(3600, gt=0, description="how often the retention purge looks")
    # After deleting a running document, how long before looking for what its last running step wrote.
    erase_grace_seconds: float = Field(300, gt=0)
    review_confidence_threshold: float = Field(0.35, ge=0.0, le=1.0)
    max_repairs: int = Field(2, ge=0)
    llm_max_attempts: int = Field(5, ge=1)
    llm_first_retry_seconds: float = Field(1.0, gt=0)
    activity_max_attempts: int = Field(3, ge=1)
    worker_concurrency: int = Field(4, ge=1)
    # Tesseract is CPU-bound: more processes than cores only add memory (about 60 MB each), not speed.
    ocr_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    # daprd's injector gives the app DAPR_GRPC_PORT (and DAPR_HTTP_PORT), not DAPR_GRPC_ENDPOINT.
    dapr_runtime_host: str = Field("127.0.0.1", validation_alias=AliasChoices("DAPR_RUNTIME_HOST"))
    dapr_grpc_port: int | None = Field(None, validation_alias=AliasChoices("DAPR_GRPC_PORT"))

    @field_validator("api_token", "app_api_token")
    @classmethod
    def _not_blank(cls, token: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # An empty token would compare equal to an empty header: fail closed instead of turning authentication off.
        if token is not None and not token.get_secret_value().strip():
            variable = {"api_token": "DOCLINE_API_TOKEN", "app_api_token": "APP_API_TOKEN"}[str(info.field_name)]
            raise ValueError(f"{variable} is empty or blank: set a real token, or leave the variable unset")
        return token

    @field_validator("api_tokens")
    @classmethod
    def _named_not_blank(cls, tokens: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, token in tokens.items():
            if not name.strip() or not token.get_secret_value().strip():
                raise ValueError(f"DOCLINE_API_TOKENS: token {name!r} has an empty or blank name or value")
        return tokens

    def named_tokens(self) -> dict[str, SecretStr]:
        """Every API token by the name a review records; empty: no authentication."""
        named = dict(self.api_tokens)
        if self.api_token is not None:
            named.setdefault("api", self.api_token)
        return named

    @model_validator(mode="after")
    def _endpoint_from_port(self) -> Settings:
        if not self.dapr_grpc_endpoint and self.dapr_grpc_port:
            self.dapr_grpc_endpoint = f"{self.dapr_runtime_host}:{self.dapr_grpc_port}"
        return self

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Settings:
        if self.events_binding and not self.events_secret_store:
            raise ValueError("DOCLINE_EVENTS_BINDING needs DOCLINE_EVENTS_SECRET_STORE: webhooks are always signed")
        return self

    @property
    def events(self) -> bool:
        """Whether status changes are published at all."""
        return bool(self.events_pubsub or self.events_binding)

    def result_url(self, doc_id: str) -> str:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base.rstrip('/')}/v1/documents/{doc_id}"

    def require_endpoint(self) -> str:
        """The sidecar's gRPC endpoint, which start-up must have resolved by now."""
        if not self.dapr_grpc_endpoint:
            raise RuntimeError("no Dapr sidecar endpoint: set DAPR_GRPC_ENDPOINT or start an embedded sidecar")
        return self.dapr_grpc_endpoint
