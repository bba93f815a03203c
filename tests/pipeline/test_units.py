"""The plain functions behind the application, without any runtime."""

from __future__ import annotations

import pytest

from pipeline.cli.export import flatten, rows
from pipeline.container import _host_port
from pipeline.service import _clean_name, document_id
from pipeline.understanding import apply_corrections
from pipeline.workflow import workflow_id


def test_corrections_set_dotted_paths_in_a_copy() -> None:
    data = {"patient": {"name": "Lukrs"}, "items": [{"amount": 1}, {"amount": 2}]}
    out = apply_corrections(data, {"patient.name": "Lukas", "items.1.amount": 3, "issue_date": "2024-01-03"})
    assert out == {"patient": {"name": "Lukas"}, "items": [{"amount": 1}, {"amount": 3}], "issue_date": "2024-01-03"}
    assert data["patient"]["name"] == "Lukrs"
    with pytest.raises(ValueError, match="list item"):
        apply_corrections(data, {"items.5.amount": 1})
    with pytest.raises(ValueError, match="not an object"):
        apply_corrections(data, {"patient.name.first": "x"})


def test_ids_are_derived_from_content() -> None:
    digest = "ab" * 32
    assert document_id(digest) == digest[:24]
    assert workflow_id(document_id(digest)) == f"docline-{digest[:24]}"


def test_file_names_from_users_are_cleaned() -> None:
    assert _clean_name("../../etc/passwd") == "passwd"
    assert _clean_name("C:\\scans\\a.pdf") == "a.pdf"
    assert _clean_name("bad\x00name\n.pdf") == "badname.pdf"
    assert _clean_name("") == "document"


def test_endpoints() -> None:
    assert _host_port("127.0.0.1:50001") == ("127.0.0.1", "50001")
    assert _host_port("http://localhost:3500") == ("localhost", "3500")
    assert _host_port("dns:///sidecar:50001") == ("sidecar", "50001")


def test_export_rows_flatten_data() -> None:
    assert flatten({"a": {"b": 1}, "c": [{"d": 2}]}) == {"a.b": 1, "c.0.d": 2}
    docs = [
        {
            "id": "x",
            "status": "completed",
            "document_type": "invoice",
            "language": "eng",
            "source": {"filename": "a.pdf", "sha256": "s"},
            "validation": {"valid": True},
            "error": None,
            "data": {"total_amount": 12.5, "seller": {"name": "ACME"}},
        }
    ]
    header, table = rows(docs)
    assert header[:3] == ["id", "status", "document_type"]
    assert table[0]["data.seller.name"] == "ACME"
    assert table[0]["data.total_amount"] == 12.5


def test_settings_find_daprd_from_the_injected_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.settings import Settings

    for name in ("DAPR_GRPC_ENDPOINT", "DOCLINE_DAPR_GRPC_ENDPOINT", "DAPR_RUNTIME_HOST", "DAPR_GRPC_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().dapr_grpc_endpoint is None  # → serve starts an embedded sidecar
    monkeypatch.setenv("DAPR_GRPC_PORT", "50007")
    assert Settings().dapr_grpc_endpoint == "127.0.0.1:50007"
    monkeypatch.setenv("DAPR_GRPC_ENDPOINT", "sidecar:50001")
    assert Settings().dapr_grpc_endpoint == "sidecar:50001"
    monkeypatch.setenv("DOCLINE_API_TOKEN", "t")
    assert Settings().api_token is not None


def test_log_records_carry_the_document(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from pipeline.logs import DocumentFilter, document_context

    log = logging.getLogger("docline.test")
    caplog.handler.addFilter(DocumentFilter())
    with caplog.at_level(logging.INFO), document_context("doc1", "docline-doc1"):
        log.info("inside")
    log.warning("outside")
    inside, outside = caplog.records
    assert (inside.doc_id, inside.workflow_id) == ("doc1", "docline-doc1")  # type: ignore[attr-defined]
    assert outside.doc_id == "-"  # type: ignore[attr-defined]
