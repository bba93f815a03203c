"""OCR throughput and accuracy: docline against the raw ``tesseract`` command, text-layer PDFs, CER per language.

    .venv/bin/python bench/ocr.py [--workers N] [--rounds R]

Page images are the committed samples' scanned pages (samples/documents). Both sides read the same PNG files with
the same parallelism (N at a time), ``--oem 1``, ``OMP_THREAD_LIMIT=1`` and the sample's language: raw tesseract
as N concurrent ``tesseract page.png - --oem 1 -l LANG --dpi DPI tsv`` processes, docline as ``ocr_page`` in N
threads (clean-up, OSD only where needed, boxes), once with the language given and once in automatic mode (language
and orientation unknown). Besides pages/s (wall clock, sensitive to other load on the machine) it prints CPU seconds
per page (this process and its Tesseract children), which is robust to load. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pypdf  # noqa: E402

from extractors.ocr import ocr_page, read_document  # noqa: E402
from extractors.pages import split_pages  # noqa: E402
from samples.metrics import cer  # noqa: E402

SAMPLES = ROOT / "samples" / "documents"


Page_ = tuple[Path, float, str, bool]  # (png path, dpi, language, upright)


def page_images(directory: Path) -> list[Page_]:
    """(png path, dpi, language, upright) of every scanned page of the samples, written to ``directory``."""
    pages = []
    for truth_path in sorted(SAMPLES.glob("*.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        if truth["source"] != "ocr":
            continue
        upright = truth["scan"]["rotation"] == 0
        for source in split_pages((SAMPLES / truth["file"]).read_bytes()):
            assert source.image_png is not None
            path = directory / f"{truth_path.stem}-{source.number}.png"
            path.write_bytes(source.image_png)
            pages.append((path, source.dpi, truth["tesseract_language"], upright))
    return pages


def raw_tesseract(page: Page_) -> None:
    path, dpi, lang, _ = page
    subprocess.run(
        ["tesseract", str(path), "-", "--oem", "1", "-l", lang, "--dpi", str(round(dpi)), "tsv"],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )


def docline_fixed(page: Page_) -> None:
    path, dpi, lang, _ = page
    ocr_page(path.read_bytes(), number=1, dpi=dpi, languages=[lang])


def docline_auto(page: Page_) -> None:
    path, dpi, _, _ = page
    ocr_page(path.read_bytes(), number=1, dpi=dpi, languages=None)


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (the Tesseract runs)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(work: Callable[[Page_], None], pages: list[Page_], workers: int) -> tuple[float, float]:
    """(pages/s, CPU seconds per page) of one run over ``pages``."""
    cpu, start = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, pages))
    return len(pages) / (time.perf_counter() - start), (cpu_seconds() - cpu) / len(pages)


def compare(pages: list[Page_], workers: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Best pages/s and least CPU-s/page of each contender over ``rounds`` interleaved runs (shared, noisy machine)."""
    best: dict[str, tuple[float, float]] = {}
    contenders = {"raw": raw_tesseract, "fixed": docline_fixed, "auto": docline_auto}
    for _ in range(rounds):
        for name, work in contenders.items():
            rate, cpu = run(work, pages, workers)
            old_rate, old_cpu = best.get(name, (0.0, float("inf")))
            best[name] = (max(rate, old_rate), min(cpu, old_cpu))
    return best


def text_layer_rate() -> tuple[int, float]:
    writer = pypdf.PdfWriter()
    for _ in range(50):
        writer.append(pypdf.PdfReader(SAMPLES / "rx-de-text.pdf"))
        writer.append(pypdf.PdfReader(SAMPLES / "inv-en-text.pdf"))
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    read_document(data)  # warm up
    start = time.perf_counter()
    document = read_document(data)
    return len(document.pages), len(document.pages) / (time.perf_counter() - start)


def cer_per_language(workers: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = defaultdict(list)
    for truth_path in sorted(SAMPLES.glob("*.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        document = read_document((SAMPLES / truth["file"]).read_bytes(), workers=workers)
        rate = cer(truth["text"], document.text)
        kind = "hand" if truth["scan"]["handwriting"] else ("text" if truth["source"] == "text-layer" else "print")
        rates[f"{truth['language']}/{kind}"].append(rate)
        print(f"  {truth['file']:24} CER {rate:.3f}  rotation {document.pages[0].rotation:3}  {kind}", flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs; the best of each is shown")
    args = parser.parse_args()
    os.environ["OMP_THREAD_LIMIT"] = "1"

    with tempfile.TemporaryDirectory(prefix="docline-bench-") as tmp:
        pages = page_images(Path(tmp))
        upright = [p for p in pages if p[3]]
        print(f"{len(pages)} scanned pages ({len(upright)} upright), {args.workers} at a time, best of {args.rounds}")
        for label, subset in (("upright pages", upright), ("all pages (incl. rotated)", pages)):
            best = compare(subset, args.workers, args.rounds)
            raw_rate, raw_cpu = best["raw"]
            print(f"{label}: (ratio = docline pages/s / raw; CPU ratio = raw CPU-s / docline CPU-s, higher is better)")
            print(f"  raw tesseract, language given {raw_rate:6.2f} pages/s  {raw_cpu:5.2f} CPU-s/page")
            for name, title in (("fixed", "docline, language given"), ("auto", "docline, automatic     ")):
                rate, cpu = best[name]
                print(
                    f"  {title}       {rate:6.2f} pages/s  {cpu:5.2f} CPU-s/page"
                    f"  ratio {rate / raw_rate:.2f}x  CPU ratio {raw_cpu / cpu:.2f}x"
                )

    count, rate = text_layer_rate()
    print(f"text-layer PDF: {count} pages at {rate:.0f} pages/s")

    print("CER per sample (automatic language and orientation):")
    per_language = cer_per_language(args.workers)
    print("CER per language:")
    for key in sorted(per_language):
        values = per_language[key]
        print(f"  {key:12} {sum(values) / len(values):.3f}  ({len(values)} sample(s))")


if __name__ == "__main__":
    main()
