"""``docline eval``: run a folder of documents with ground truth through the document workflow and score the results.

A ground truth is a JSON file beside its document, with the same stem (or naming it in ``file``), in the form the
bundled samples use: ``document_type``, ``language`` and ``fields`` (the type's data as nested JSON), plus an
optional ``scored`` list of dotted paths to score instead of every field it holds. Each document is submitted anew
(``force``, so neither an earlier result nor the replies cached for it are reused), read back once it is final or
waits for a review (its draft is what counts: nobody reviews during an evaluation), then deleted, so the results
store holds no evaluation documents afterwards. Scoring is :func:`extractors.compare.score`.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from extractors.compare import FieldScore, score
from extractors.errors import DocumentError
from pipeline.models import TERMINAL, DocumentResult, ErrorInfo, Usage
from pipeline.service import DocumentService

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class GroundTruth(BaseModel):
    """A ground-truth file (other keys, such as the samples' ``text`` and ``scan``, are ignored)."""

    model_config = ConfigDict(extra="ignore")

    file: str | None = None
    document_type: str
    language: str | None = None
    fields: dict[str, Any]
    scored: list[str] | None = None


@dataclass(frozen=True)
class Case:
    """A document and its ground truth."""

    document: Path
    truth: GroundTruth


def find_cases(
    folder: Path, *, only: str | None = None, document_type: str | None = None
) -> tuple[list[Case], list[str]]:
    """The documents in ``folder`` that have a ground truth, by file name; and what was wrong with the ground-truth
    files that could not be used. A JSON file without ``document_type`` and ``fields`` is no ground truth."""
    cases: list[Case] = []
    problems: list[str] = []
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in (p for p in files if p.suffix.lower() == ".json"):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(raw, dict) or "document_type" not in raw or "fields" not in raw:
            continue
        try:
            truth = GroundTruth.model_validate(raw)
        except ValidationError as exc:
            problems.append(f"{path.name}: not a ground truth: {exc.errors()[0]['msg']}")
            continue
        if truth.file:
            document: Path | None = folder / truth.file
        else:
            document = next((p for p in files if p.stem == path.stem and p.suffix.lower() != ".json"), None)
        if document is None or not document.is_file():
            problems.append(f"{path.name}: no document {truth.file or path.stem + '.*'} beside it")
            continue
        if only and only not in document.name:
            continue
        if document_type and truth.document_type != document_type:
            continue
        cases.append(Case(document, truth))
    return cases, problems


class Accuracy(BaseModel):
    right: int
    total: int
    share: float | None  # right / total; None when nothing was scored

    @classmethod
    def of(cls, values: Sequence[bool]) -> Accuracy:
        right = sum(values)
        return cls(right=right, total=len(values), share=right / len(values) if values else None)


class DocumentReport(BaseModel):
    """One document: how it ended, what it cost, and each scored field."""

    file: str
    document_type: str  # the ground truth's
    language: str  # the ground truth's
    status: str  # completed, needs_review, rejected, failed; queued or running when it did not finish in time
    extracted_type: str | None = None
    error: ErrorInfo | None = None
    review_reasons: list[str]
    seconds: float
    usage: Usage
    accuracy: Accuracy
    fields: list[FieldScore]
    lists: list[FieldScore]


class Miss(BaseModel):
    file: str
    path: str
    expected: Any = None
    got: Any = None


class Seconds(BaseModel):
    """Over the documents that were extracted (a rejected file says little about speed)."""

    mean: float | None
    median: float | None
    max: float | None


class EvalReport(BaseModel):
    """What ``docline eval --json`` prints. Accuracies count fields; ``lists`` and ``document_type`` count
    documents (a list is right when all its items are)."""

    folder: str
    resources_path: str
    extractor: str  # the conversation component, or "offline"
    requested_type: str | None
    wall_seconds: float
    total: Accuracy
    per_field: dict[str, dict[str, Accuracy]]  # document type -> field path
    per_language: dict[str, Accuracy]
    lists: dict[str, dict[str, Accuracy]]  # document type -> list path
    document_type: Accuracy
    seconds_per_document: Seconds
    usage: Usage
    documents: list[DocumentReport]
    misses: list[Miss]  # wrong fields and lists of the documents that were extracted (not rejected or failed)


def _extracted(status: str) -> bool:
    return status in ("completed", "needs_review")


def score_result(case: Case, result: DocumentResult, seconds: float) -> DocumentReport:
    """Score one document's result (a draft waiting for review counts as it is; a rejected or failed document, or
    one that did not finish, has every field wrong)."""
    card = score(case.truth.fields, (result.data or {}) if _extracted(result.status) else None, case.truth.scored)
    return DocumentReport(
        file=case.document.name,
        document_type=case.truth.document_type,
        language=case.truth.language or "unknown",
        status=result.status,
        extracted_type=result.document_type,
        error=result.error,
        review_reasons=result.review.reasons if result.review else [],
        seconds=round(seconds, 3),
        usage=result.usage,
        accuracy=Accuracy.of([f.right for f in card.fields]),
        fields=card.fields,
        lists=card.lists,
    )


def _not_extracted(case: Case, status: str, error: ErrorInfo, seconds: float) -> DocumentReport:
    card = score(case.truth.fields, None, case.truth.scored)
    return DocumentReport(
        file=case.document.name,
        document_type=case.truth.document_type,
        language=case.truth.language or "unknown",
        status=status,
        error=error,
        review_reasons=[],
        seconds=round(seconds, 3),
        usage=Usage(),
        accuracy=Accuracy.of([f.right for f in card.fields]),
        fields=card.fields,
        lists=card.lists,
    )


def _seconds(result: DocumentResult, submitted: float) -> float:
    """From the record's creation to its last update (the result or the review mark), as the worker saw them."""
    if result.created_at and result.updated_at and result.updated_at > result.created_at:
        return (result.updated_at - result.created_at).total_seconds()
    return time.monotonic() - submitted


def evaluate(
    service: DocumentService,
    cases: Sequence[Case],
    *,
    requested_type: str | None = None,
    jobs: int = 1,
    timeout: float = 600.0,
    on_done: Callable[[DocumentReport], None] | None = None,
) -> list[DocumentReport]:
    """Run each case through the workflow, at most ``jobs`` at once, and score it; in the order of ``cases``.

    A document that is not final (nor waiting for a review) ``timeout`` seconds after its submission counts as
    not extracted, with the error code ``timeout``.
    """
    reports: dict[int, DocumentReport] = {}
    waiting = list(enumerate(cases))
    running: dict[str, tuple[int, Case, float]] = {}  # document id -> (position, case, submitted at)

    def done(position: int, report: DocumentReport, doc_id: str | None) -> None:
        reports[position] = report
        if doc_id is not None:
            try:  # an evaluation leaves no documents behind (and no workflow waiting for a review)
                service.delete(doc_id)
            except Exception:
                log.warning("could not delete evaluated document %s", doc_id, exc_info=True)
        if on_done is not None:
            on_done(report)

    while waiting or running:
        while waiting and len(running) < jobs:
            position, case = waiting.pop(0)
            submitted = time.monotonic()
            try:
                doc, _ = service.submit(
                    case.document.read_bytes(), case.document.name, requested_type=requested_type, force=True
                )
            except DocumentError as exc:  # e.g. over the upload limit: refused before any workflow
                done(position, _not_extracted(case, "rejected", ErrorInfo(**exc.to_dict()), 0.0), None)
                continue
            running[doc.id] = (position, case, submitted)
        time.sleep(POLL_SECONDS)
        for doc_id, (position, case, submitted) in list(running.items()):
            doc = service.get(doc_id)
            if doc.status in TERMINAL or doc.status == "needs_review":
                result = doc.result()
                done(position, score_result(case, result, _seconds(result, submitted)), doc_id)
            elif time.monotonic() - submitted > timeout:
                late = ErrorInfo(code="timeout", message=f"Not finished within {timeout:g} s.")
                done(position, _not_extracted(case, doc.status, late, time.monotonic() - submitted), doc_id)
            else:
                continue
            del running[doc_id]
    return [reports[i] for i in range(len(cases))]


def summarize(
    documents: Sequence[DocumentReport],
    *,
    folder: Path,
    resources_path: Path,
    extractor: str,
    requested_type: str | None,
    wall_seconds: float,
) -> EvalReport:
    """The figures over all documents."""
    per_field: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    per_language: dict[str, list[bool]] = defaultdict(list)
    lists: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    misses: list[Miss] = []
    for doc in documents:
        for field in doc.fields:
            per_field[doc.document_type][field.path].append(field.right)
            per_language[doc.language].append(field.right)
        for listed in doc.lists:
            lists[doc.document_type][listed.path].append(listed.right)
        if _extracted(doc.status):
            misses += [
                Miss(file=doc.file, path=f.path, expected=f.expected, got=f.got)
                for f in [*doc.fields, *doc.lists]
                if not f.right
            ]
    seconds = [d.seconds for d in documents if _extracted(d.status)]
    usage = Usage()
    for doc in documents:
        usage += doc.usage
    return EvalReport(
        folder=str(folder),
        resources_path=str(resources_path),
        extractor=extractor,
        requested_type=requested_type,
        wall_seconds=round(wall_seconds, 3),
        total=Accuracy.of([f.right for d in documents for f in d.fields]),
        per_field={t: {p: Accuracy.of(v) for p, v in sorted(paths.items())} for t, paths in sorted(per_field.items())},
        per_language={language: Accuracy.of(v) for language, v in sorted(per_language.items())},
        lists={t: {p: Accuracy.of(v) for p, v in sorted(paths.items())} for t, paths in sorted(lists.items())},
        document_type=Accuracy.of([d.extracted_type == d.document_type for d in documents]),
        seconds_per_document=Seconds(
            mean=round(statistics.mean(seconds), 3) if seconds else None,
            median=round(statistics.median(seconds), 3) if seconds else None,
            max=round(max(seconds), 3) if seconds else None,
        ),
        usage=usage,
        documents=list(documents),
        misses=misses,
    )


def _pct(accuracy: Accuracy) -> str:
    if accuracy.share is None:
        return "n/a"
    return f"{100 * accuracy.share:5.1f}% ({accuracy.right}/{accuracy.total})"


def _seconds_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def render(report: EvalReport) -> str:
    """The report as text for a terminal."""
    lines = [
        f"docline eval: {len(report.documents)} documents in {report.folder}, extractor: {report.extractor} "
        f"(components: {report.resources_path}), {report.wall_seconds:.1f} s",
        "",
        f"{'document':32} {'type':14} {'lang':5} {'status':13} {'fields':>15} {'seconds':>8} "
        f"{'LLM calls':>9} {'tokens in/out':>15}",
    ]
    for doc in report.documents:
        tokens = f"{doc.usage.input_tokens}/{doc.usage.output_tokens}"
        lines.append(
            f"{doc.file:32} {doc.document_type:14} {doc.language:5} {doc.status:13} {_pct(doc.accuracy):>15} "
            f"{doc.seconds:8.2f} {doc.usage.llm_calls:9} {tokens:>15}"
        )
        if doc.error:
            lines.append(f"  {doc.error.code}: {doc.error.message}")
        elif doc.extracted_type != doc.document_type:
            lines.append(f"  read as {doc.extracted_type or 'no type'}")
    for type_name, paths in report.per_field.items():
        lines += ["", f"{type_name}: per field"]
        lines += [f"  {path:34} {_pct(accuracy)}" for path, accuracy in paths.items()]
        for path, accuracy in report.lists.get(type_name, {}).items():
            lines.append(f"  {path + ' (every item right)':34} {_pct(accuracy)} documents")
    lines += ["", "per language"]
    lines += [f"  {language:34} {_pct(accuracy)}" for language, accuracy in report.per_language.items()]
    seconds = report.seconds_per_document
    lines += [
        "",
        f"{'document type right':36} {_pct(report.document_type)} documents",
        f"{'total':36} {_pct(report.total)} fields",
        f"{'seconds per document':36} mean {_seconds_text(seconds.mean)}, median {_seconds_text(seconds.median)}, "
        f"max {_seconds_text(seconds.max)}",
        f"{'LLM':36} {report.usage.llm_calls} calls, {report.usage.input_tokens} tokens in, "
        f"{report.usage.output_tokens} out",
    ]
    if report.misses:
        lines += ["", "misses"]
        lines += [
            f"  {m.file:32} {m.path:30} expected {_short(m.expected):32} got {_short(m.got)}" for m in report.misses
        ]
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
