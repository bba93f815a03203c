"""Bundle splitting: boundary precision and recall on stacks built from real and generated documents.

    .venv/bin/python bench/bundles.py                                   # documents OCR'd into .docline/bench-cache
    .venv/bin/python bench/bundles.py --cache /elsewhere/bench-cache    # also read OCR results cached elsewhere
    .venv/bin/python bench/bundles.py --seeds 5 --bundles 200 --separators 0.3

Documents: the corpus of ``bench/extract.py`` (generated samples; the tuned PyPI sources; the tuning and held-out
halves of the other real documents, by sender, with their degraded scans), each read as the pipeline reads it (the
PDF text layer or Tesseract; results cached by content, as ``bench/extract.py`` caches them, so both share a cache).
A document not in any cache is read now unless ``--cached-only``. A PDF longer than ``corpus.degraded_scan``'s
page budget has no degraded scan: the first pages alone are no whole document (the last says "Seite 3 von 5").

A bundle is 1-6 documents of one group drawn at random (never two copies of one document: a PDF and its degraded
scan), in random order, each with its pages in order; with ``--separators P`` a blank page stands between two
documents with probability P. Every page's signals are computed once (they depend on the page alone); each bundle
is then split by ``agents.bundles.score_gaps``. A true boundary is the first page of every document but the first.

Prints per group: boundary precision and recall of the machine's proposal; the bundles whose split waits for a
reviewer (a gap in the unsure band); precision and recall of the result (the proposal, or the reviewer's split where
one was asked, taken to be right); bundles split wrongly without a reviewer asked; and single-document files split
by mistake or sent to review. Held-out figures are printed; never look at held-out documents to tune.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import DEFAULT_MIRRORS, Case, new_real_cases, ocr_key  # noqa: E402

from agents.bundles import PageSignals, page_signals, score_gaps  # noqa: E402
from extractors.model import Document  # noqa: E402
from extractors.types import build_registry  # noqa: E402

OWN_CACHE = ROOT / ".docline" / "bench-cache"
MAX_DOCUMENTS = 6


@dataclass
class Pages:
    """One document of the corpus as page signals."""

    name: str
    group: str
    signals: list[PageSignals]


def corpus_cases(mirrors: Path, caches: list[Path]) -> list[Case]:
    import extract

    # The archives of the tuned PyPI sources are looked for in each cache; only ours is ever written.
    for cache in [*caches, OWN_CACHE]:
        if any(cache.glob("factur_x-*.tar.gz")) or cache == OWN_CACHE:
            extract.CACHE = cache
            break
    tuned = extract.distinct(extract.real_world_cases() + extract.invoice2data_cases() + extract.odoo_facturx_cases())
    for case in tuned:
        case.group = "tuned"
    return extract.sample_cases() + tuned + new_real_cases(mirrors, tuned, scans=True)


def generated_cases(count: int, seed: int) -> list[Case]:
    """``count`` more generated documents (``samples/generate.py``'s random mix), made in a temporary folder."""
    import tempfile

    from samples.generate import random_spec, write

    rng = random.Random(seed)
    specs = [random_spec(i, rng) for i in range(count)]
    cases = []
    with tempfile.TemporaryDirectory() as folder:
        for path in write(specs, Path(folder), seed):
            truth = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            cases.append(
                Case(path.stem, truth["language"], truth["document_type"], path.read_bytes(), {}, "generated", None)
            )
    for case in cases:
        case.group = "generated"
    return cases


def read(case: Case, caches: list[Path], cached_only: bool) -> Document | None:
    key = ocr_key(case.data)
    for cache in [*caches, OWN_CACHE]:
        path = cache / f"{key}.document.json"
        if path.exists():
            return Document.model_validate_json(path.read_text(encoding="utf-8"))
    if cached_only:
        return None
    from extractors.ocr import read_document

    document = read_document(case.data)
    OWN_CACHE.mkdir(parents=True, exist_ok=True)
    (OWN_CACHE / f"{key}.document.json").write_text(
        json.dumps(document.model_dump(mode="json"), ensure_ascii=True), encoding="utf-8"
    )
    return document


def base_name(name: str) -> str:
    return name.removesuffix("~scan")


def build(rng: random.Random, pool: list[Pages], separators: float) -> tuple[list[PageSignals], set[int], int]:
    """A bundle of documents from ``pool``: its page signals renumbered, its true first pages, documents in it."""
    count = rng.randint(1, min(MAX_DOCUMENTS, len({base_name(p.name) for p in pool})))
    chosen: list[Pages] = []
    used: set[str] = set()
    for doc in rng.sample(pool, len(pool)):
        if base_name(doc.name) not in used:
            chosen.append(doc)
            used.add(base_name(doc.name))
        if len(chosen) == count:
            break
    pages: list[PageSignals] = []
    starts: set[int] = set()
    for i, doc in enumerate(chosen):
        if i and rng.random() < separators:
            pages.append(PageSignals(number=len(pages) + 1, separator=True))
        first = len(pages) + 1
        for signal in doc.signals:
            pages.append(replace(signal, number=len(pages) + 1))
        # A new document begins at its first page with content (a blank page is left out of every part).
        content = [n for n in range(first, len(pages) + 1) if not pages[n - 1].separator]
        if i and content and any(not p.separator for p in pages[: first - 1]):
            starts.add(content[0])
    return pages, starts, len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, action="append", default=[], help="more OCR caches to read (not written)")
    parser.add_argument("--cached-only", action="store_true", help="leave out documents no cache holds")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="fetched git snapshots (bench/corpus.py)")
    parser.add_argument("--generated", type=int, default=60, help="more generated documents (samples/generate.py)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bundles", type=int, default=200, help="bundles per seed and group")
    parser.add_argument("--separators", type=float, default=0.0, help="chance of a blank page between documents")
    args = parser.parse_args()

    types = build_registry([]).all()
    started = time.perf_counter()
    cases = corpus_cases(args.mirrors, args.cache) + generated_cases(args.generated, seed=11)
    print(f"corpus: {len(cases)} documents ({time.perf_counter() - started:.0f} s to gather)")
    documents: list[Pages] = []
    page_seconds = 0.0
    page_count = 0
    for case in cases:
        document = read(case, args.cache, args.cached_only)
        if document is None or not document.pages:
            continue
        started = time.perf_counter()
        signals = [page_signals(page, types, media_type=document.media_type) for page in document.pages]
        page_seconds += time.perf_counter() - started
        page_count += len(signals)
        documents.append(Pages(case.name, case.group, signals))
    per_page = 1000 * page_seconds / max(1, page_count)
    print(f"pages: {page_count} in {len(documents)} documents; signals {per_page:.0f} ms/page")

    groups = {
        "samples": [d for d in documents if d.group == "samples"],
        "generated": [d for d in documents if d.group == "generated"],
        "real (tuned + tuning)": [d for d in documents if d.group in ("tuned", "tuning")],
        "held-out": [d for d in documents if d.group == "held-out"],
        "all": documents,
    }
    header = (
        f"{'group':<22} {'docs':>4} {'bundles':>7} {'bounds':>6} | {'proposal P':>10} {'R':>5} | {'to review':>9} | "
        f"{'result P':>8} {'R':>5} | {'silently wrong':>14} | {'single docs: split / to review':>30}"
    )
    print(f"\n{args.seeds} seeds x {args.bundles} bundles per group; separator chance {args.separators}")
    print(header)
    for name, pool in groups.items():
        if len({base_name(d.name) for d in pool}) < 2:
            continue
        tally: dict[str, int] = defaultdict(int)
        for seed in range(args.seeds):
            rng = random.Random(f"{seed}:{name}")
            for _ in range(args.bundles):
                pages, truth, count = build(rng, pool, args.separators)
                split = score_gaps(pages)
                found = {g.page for g in split.gaps if g.boundary}
                # What the file ends split as: the proposal, or the reviewer's split (taken to be right) when unsure.
                result = truth if split.unsure else found
                tally["bundles"] += 1
                tally["truth"] += len(truth)
                tally["found"] += len(found)
                tally["hits"] += len(found & truth)
                tally["result"] += len(result)
                tally["result_hits"] += len(result & truth)
                tally["review"] += split.unsure
                tally["silent"] += not split.unsure and found != truth
                if count == 1:
                    tally["singles"] += 1
                    tally["singles_split"] += bool(found)
                    tally["singles_review"] += split.unsure
        bundles = tally["bundles"]
        result_precision = tally["result_hits"] / max(1, tally["result"])
        result_recall = tally["result_hits"] / max(1, tally["truth"])
        print(
            f"{name:<22} {len(pool):>4} {bundles:>7} {tally['truth']:>6} | "
            f"{tally['hits'] / max(1, tally['found']):>10.3f} {tally['hits'] / max(1, tally['truth']):>5.3f} | "
            f"{tally['review']:>4} {100 * tally['review'] / bundles:>3.0f} % | "
            f"{result_precision:>8.3f} {result_recall:>5.3f} | "
            f"{tally['silent']:>14} | {tally['singles_split']:>14} / {tally['singles_review']:<4} of {tally['singles']}"
        )
    print(
        "\nproposal: the machine's split of every bundle; result: the proposal, or a reviewer's split where the machine"
        "\nwas unsure (taken to be right); silently wrong: bundles split wrongly with no reviewer asked."
    )


if __name__ == "__main__":
    main()
