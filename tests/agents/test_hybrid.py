"""Hybrid extraction (agents/hybrid.py): the offline pass first, the model asked only for what it left open, each
field decided by agreement, the rules and the printed page. Decisions are tested as plain functions; the wire
through a real ``docline sidecar`` and the loopback LLM server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
from dapr.clients import DaprClient

from agents.extract import extract
from agents.hybrid import AGREED_CONFIDENCE, merge, sub_schema, unsettled
from agents.llm import Llm
from agents.offline import offline_extract
from extractors.types import get_type
from extractors.validation import validate
from tests.agents.layout import document_from_text
from tests.agents.test_llm_agents import _component
from tests.agents.test_offline import GERMAN_INVOICE
from tests.support.components import StartSidecar
from tests.support.llm_server import LLMServer, Reply

INVOICE = get_type("invoice")
# The German invoice without its due date and with a net amount the page prints twice (line sum and summary).
NO_DUE_DATE = GERMAN_INVOICE.replace("                                          Fällig am: 03.05.2024\n", "")


def test_sub_schema_keeps_only_the_asked_fields_with_their_objects_resolved() -> None:
    schema = sub_schema(INVOICE.json_schema, ["due_date", "seller.vat_id"])
    assert set(schema["properties"]) == {"due_date", "seller"}
    assert set(schema["properties"]["seller"]["properties"]) == {"vat_id"}
    assert "$defs" not in json.dumps(schema)
    assert "$ref" not in json.dumps(schema)


def test_a_fully_read_field_is_not_asked_and_a_missing_one_is() -> None:
    document = document_from_text(NO_DUE_DATE)
    offline = offline_extract(document, INVOICE)
    asked = unsettled(offline, INVOICE, validate(INVOICE, offline.data))
    assert "due_date" in asked
    assert not {"invoice_number", "total_amount", "net_amount", "seller.vat_id"} & set(asked)


def test_merge_takes_a_printed_value_for_a_missing_field_and_agreement_raises_confidence() -> None:
    document = document_from_text(NO_DUE_DATE + "Zahlbar bis 15.05.2024\n")
    offline = offline_extract(document, INVOICE).model_copy(deep=True)
    offline.data.pop("due_date", None)
    offline.fields.pop("due_date", None)
    offline.fields["invoice_number"] = offline.fields["invoice_number"].model_copy(update={"confidence": 0.5})
    answer = {"due_date": "2024-05-15", "invoice_number": "RE-2024-0042"}
    merged, decisions = merge(document, INVOICE, offline, answer, ["due_date", "invoice_number"])
    by_path = {d.path: d for d in decisions}
    assert merged.data["due_date"] == "2024-05-15"
    assert (by_path["due_date"].chosen, by_path["due_date"].reason) == ("model", "model_only")
    assert by_path["invoice_number"].reason == "agreed"
    assert merged.fields["invoice_number"].confidence == AGREED_CONFIDENCE


def test_merge_lets_the_rules_decide_between_two_readings() -> None:
    document = document_from_text(GERMAN_INVOICE)
    offline = offline_extract(document, INVOICE).model_copy(deep=True)
    offline.data["net_amount"] = 1000.0  # a line amount, not the net: net + tax = total fails
    merged, decisions = merge(document, INVOICE, offline, {"net_amount": 1234.56}, ["net_amount"])
    assert merged.data["net_amount"] == 1234.56
    assert (decisions[0].chosen, decisions[0].reason) == ("model", "rules")
    # And the other way round: a model reading that breaks the sum loses to the offline one.
    offline.data["net_amount"] = 1234.56
    kept, decisions = merge(document, INVOICE, offline, {"net_amount": 234.56}, ["net_amount"])
    assert kept.data["net_amount"] == 1234.56
    assert (decisions[0].chosen, decisions[0].reason) == ("offline", "rules")


def test_merge_keeps_the_offline_reading_over_a_value_printed_nowhere() -> None:
    document = document_from_text(GERMAN_INVOICE)
    offline = offline_extract(document, INVOICE).model_copy(deep=True)
    offline.fields["seller.name"] = offline.fields["seller.name"].model_copy(update={"confidence": 0.5})
    merged, decisions = merge(document, INVOICE, offline, {"seller": {"name": "Invented Optics Ltd"}}, ["seller.name"])
    assert merged.data["seller"]["name"] == "Optik Müller GmbH"
    assert (decisions[0].chosen, decisions[0].reason) == ("offline", "printed")


@pytest.fixture
def dapr(llm_server: LLMServer, component_sidecar: StartSidecar) -> Iterator[DaprClient]:
    metadata = {"key": "sk-test", "model": "gpt-test", "endpoint": llm_server.openai_base_url, "maxRetries": "0"}
    component_sidecar(_component("llm", "conversation.openai", metadata))
    with DaprClient() as client:
        yield client


def test_hybrid_asks_only_for_the_open_fields_and_not_at_all_when_none_are(
    dapr: DaprClient, llm_server: LLMServer
) -> None:
    llm_server.script(Reply(json={"due_date": None, "buyer": {"vat_id": None, "address": None}}, usage=(300, 20)))
    document = document_from_text(NO_DUE_DATE)
    extraction = extract(document, INVOICE, Llm(dapr, "llm"), strategy="hybrid")

    (request,) = llm_server.requests
    asked = request.body["response_format"]["json_schema"]["schema"]["properties"]
    assert "due_date" in asked
    assert "total_amount" not in asked
    assert "line_items" not in asked
    prompt = request.body["messages"][-1]["content"]
    assert "Rechnungsnummer" in prompt  # the page travels whole; only the question is short
    assert extraction.data["total_amount"] == 1469.13
    assert extraction.data["invoice_number"] == "RE-2024-0042"
    assert [(u.tokens_in, u.tokens_out) for u in extraction.usage] == [(300, 20)]

    # A document whose every field the offline pass settled costs no call.
    narrow = dataclasses.replace(
        INVOICE, model=None, json_schema=sub_schema(INVOICE.json_schema, ["invoice_number", "total_amount"])
    )
    settled = extract(document, narrow, Llm(dapr, "llm"), strategy="hybrid")
    assert len(llm_server.requests) == 1
    assert (settled.data["invoice_number"], settled.data["total_amount"]) == ("RE-2024-0042", 1469.13)
    assert settled.usage == []
