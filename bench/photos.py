"""OCR of camera photos: raw ``tesseract`` against docline, per photo condition, on pages degraded like a phone.

    .venv/bin/python bench/photos.py [--conditions perspective,light,...] [--only rx-de] [--second-reader rapidocr]

Real phone photos of pages with ground truth are scarce, so the photos are made: each committed sample's first page
is drawn again clean (``samples.generate``, the same text as its ground truth) and photographed in software the way a
phone does (``photograph``): the page lying on a darker table seen at an angle (perspective), light falling off
across the page (gradient and vignette), the shadow of the phone and hand, a grey, low-contrast exposure, a page that
curls at one edge, sensor noise and blur, JPEG at quality 80, declaring 72 dpi as phone cameras do. Each condition
alone, then all of them at once (``phone``), and the clean page at 200 dpi as a scanner gives it (``scan``).

Per condition it prints CER (samples/metrics.py) of raw Tesseract (``tesseract photo.jpg - --oem 1 -l LANG``: the
file as the user has it, the language given), docline with the language given (``ocr_page`` on what
``split_pages`` makes of the file), and docline with the second reader when one is asked for; field accuracy of the
offline extractor on docline's reading (``agents.extract.extract``, the sample's ground-truth fields, compared as
bench/extract.py compares them); and CPU seconds per page (this process plus its Tesseract children). Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.extract import extract  # noqa: E402
from bench.extract import CORE_INVOICE, PRESCRIPTION_FIELDS, _same  # noqa: E402
from extractors import second_reader  # noqa: E402
from extractors.model import Document  # noqa: E402
from extractors.ocr import ocr_page  # noqa: E402
from extractors.pages import split_pages  # noqa: E402
from extractors.rules import get_path  # noqa: E402
from extractors.types import get_type  # noqa: E402
from samples import generate  # noqa: E402
from samples.metrics import cer  # noqa: E402

SAMPLES = ROOT / "samples" / "documents"
PHOTO_DPI = 72  # what a phone camera writes into its JPEGs, whatever the page's real resolution
PAGE_DPI = 200  # the page's real resolution in the photo (a 12 MP phone photo of an A4 page)

Photo = Callable[[Image.Image, random.Random], Image.Image]


def _on_table(page: Image.Image, rng: random.Random) -> Image.Image:
    """The page lying on a darker, textured table, seen at an angle: a perspective view of it."""
    w, h = page.size
    margin = 0.09
    frame = (round(w * (1 + 2 * margin)), round(h * (1 + 2 * margin)))
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, (frame[1] // 8, frame[0] // 8))
    table = Image.fromarray(np.clip(95 + noise, 0, 255).astype(np.uint8)).resize(frame, Image.Resampling.BILINEAR)
    mx, my = w * margin, h * margin

    def jitter(limit: float) -> float:
        return rng.uniform(0.3, 1.0) * limit * rng.choice((-1, 1))

    # Where the page's corners land in the photo (top-left, top-right, bottom-right, bottom-left): the top edge
    # further from the camera is shorter, as when a phone is held over the near edge of the page.
    squeeze = rng.uniform(0.03, 0.07) * w
    corners = [
        (mx + squeeze + jitter(0.25 * mx), my + jitter(0.25 * my)),
        (mx + w - squeeze + jitter(0.25 * mx), my + jitter(0.25 * my)),
        (mx + w + jitter(0.2 * mx), my + h + jitter(0.2 * my)),
        (mx + jitter(0.2 * mx), my + h + jitter(0.2 * my)),
    ]
    coefficients = _homography(corners, [(0, 0), (w, 0), (w, h), (0, h)])
    warped = page.transform(frame, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC, fillcolor=0)
    mask = Image.new("L", page.size, 255).transform(
        frame, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR, fillcolor=0
    )
    table.paste(warped, (0, 0), mask)
    return table


def _homography(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE coefficients mapping output pixels ``source`` to input pixels ``target``."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    return tuple(float(c) for c in np.linalg.solve(np.array(rows, dtype=np.float64), np.array(values)))


def _light(page: Image.Image, rng: random.Random) -> Image.Image:
    """Light falling off across the page (a lamp to one side) and towards the corners (the lens)."""
    w, h = page.size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    along = ((x / w - 0.5) * math.cos(angle) + (y / h - 0.5) * math.sin(angle)) + 0.5
    gradient = 1.0 - rng.uniform(0.35, 0.5) * np.clip(along, 0, 1)
    vignette = 1.0 - 0.25 * (((x / w - 0.5) ** 2 + (y / h - 0.5) ** 2) / 0.5)
    return _multiply(page, gradient * vignette)


def _shadow(page: Image.Image, rng: random.Random) -> Image.Image:
    """The soft shadow of the phone and the hand holding it over one side of the page."""
    w, h = page.size
    mask = Image.new("L", (w, h), 0)
    side = rng.choice(("left", "right"))
    top, bottom = rng.uniform(0.25, 0.45) * w, rng.uniform(0.35, 0.6) * w
    polygon = (
        [(0, 0), (top, 0), (bottom, h), (0, h)] if side == "left" else [(w, 0), (w - top, 0), (w - bottom, h), (w, h)]
    )
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(w * 0.03)), dtype=np.float32) / 255.0
    return _multiply(page, 1.0 - rng.uniform(0.4, 0.55) * soft)


def _low_contrast(page: Image.Image, rng: random.Random) -> Image.Image:
    """A grey exposure: black ink prints as dark grey, white paper as light grey."""
    ink, paper = rng.uniform(85, 105), rng.uniform(175, 195)
    return page.point(lambda v: round(ink + (paper - ink) * v / 255))


def _curl(page: Image.Image, rng: random.Random) -> Image.Image:
    """The page curling up towards one side edge: text lines bend and crowd near that edge."""
    w, h = page.size
    lift = rng.uniform(0.012, 0.02) * h
    cells = 24
    mesh = []
    for i in range(cells):
        x0, x1 = w * i / cells, w * (i + 1) / cells

        def source(x: float, y: float) -> tuple[float, float]:
            t = x / w  # the last third of the page lifts off the table, bending its lines upwards
            bend = lift * max(0.0, (t - 0.66) / 0.34) ** 2
            return x - 0.02 * w * max(0.0, t - 0.66) ** 2, y + bend * (1.0 - 0.5 * y / h)

        box = (round(x0), 0, round(x1), h)
        quad = (*source(x0, 0), *source(x0, h), *source(x1, h), *source(x1, 0))
        mesh.append((box, quad))
    return page.transform(page.size, Image.Transform.MESH, mesh, Image.Resampling.BICUBIC, fillcolor=255)


def _sensor(page: Image.Image, rng: random.Random) -> Image.Image:
    """A small sensor's noise and a slightly soft focus."""
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 7, (page.height, page.width))
    soft = page.filter(ImageFilter.GaussianBlur(0.7))
    return Image.fromarray(np.clip(np.asarray(soft, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def _multiply(page: Image.Image, factor: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.asarray(page, dtype=np.float32) * factor, 0, 255).astype(np.uint8))


def _phone(page: Image.Image, rng: random.Random) -> Image.Image:
    """Everything at once, in the order the scene and the camera add them (light and shadow fall on the table too)."""
    for step in (_curl, _on_table, _light, _shadow, _low_contrast, _sensor):
        page = step(page, rng)
    return page


CONDITIONS: dict[str, Photo | None] = {
    "scan": None,
    "perspective": _on_table,
    "light": _light,
    "shadow": _shadow,
    "low-contrast": _low_contrast,
    "curl": _curl,
    "sensor": _sensor,
    "phone": _phone,
}


def photograph(page: Image.Image, condition: str, rng: random.Random) -> bytes:
    """The page as a photo file under ``condition`` (JPEG declaring 72 dpi), or as a 200-dpi PNG scan for ``scan``."""
    out = io.BytesIO()
    step = CONDITIONS[condition]
    if step is None:
        page.save(out, format="PNG", dpi=(PAGE_DPI, PAGE_DPI))
    else:
        step(page, rng).convert("RGB").save(out, format="JPEG", quality=80, dpi=(PHOTO_DPI, PHOTO_DPI))
    return out.getvalue()


def clean_pages(only: str | None) -> list[tuple[str, Image.Image, dict[str, object]]]:
    """(name, first page drawn clean at 200 dpi, ground truth) of the committed scanned samples."""
    pages = []
    for spec in generate.committed_specs():
        if spec.format == "pdf-text" or (only and only not in spec.name):
            continue
        _, truth = generate.make(spec, 3)  # the seed of the committed set: the same text as its ground truth
        rng = random.Random(f"3:{spec.name}:{spec.seed}")
        if spec.kind == "prescription":
            canvases, _ = generate.draw_prescription(spec.lang, rng, spec.handwriting)
        else:
            canvases, _ = generate.draw_invoice(spec.lang, rng, spec.handwriting, items=spec.items)
        scale = PAGE_DPI / generate.DRAW_DPI
        image = canvases[0].image
        page = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        truth = {**truth, "text": canvases[0].page_text()}
        pages.append((spec.name, page, truth))
    return pages


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def raw_tesseract(data: bytes, language: str) -> str:
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()
        run = subprocess.run(
            ["tesseract", f.name, "-", "--oem", "1", "-l", language],
            capture_output=True,
            check=True,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
    return run.stdout.decode("utf-8", "replace")


def fields_right(document: Document, truth: dict[str, object]) -> tuple[int, int]:
    """(right, scored) fields of the offline extractor on ``document``, as bench/extract.py scores them."""
    doc_type = get_type(str(truth["document_type"]))
    data = extract(document, doc_type).data
    paths = PRESCRIPTION_FIELDS if truth["document_type"] == "prescription" else CORE_INVOICE
    right = sum(_same(get_path(truth["fields"], p), get_path(data, p), p) for p in paths)
    return right, len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--conditions", default=",".join(CONDITIONS), help="comma-separated, of: " + ",".join(CONDITIONS)
    )
    parser.add_argument("--only", help="only samples whose name contains this")
    parser.add_argument("--save", type=Path, help="write each photo here to look at")
    parser.add_argument("--second-reader", choices=second_reader.SECOND_READERS, help="also read with it")
    args = parser.parse_args()
    reader = second_reader.load(args.second_reader)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    conditions = [c for c in args.conditions.split(",") if c]
    pages = clean_pages(args.only)
    print(f"{len(pages)} sample pages x {len(conditions)} conditions; CER raw tesseract | docline; fields; CPU-s/page")
    totals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for condition in conditions:
        for name, page, truth in pages:
            rng = random.Random(f"{condition}:{name}")
            photo = photograph(page, condition, rng)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{name}-{condition}.{'png' if condition == 'scan' else 'jpg'}").write_bytes(photo)
            language = str(truth["tesseract_language"])
            text = str(truth["text"])
            started = cpu_seconds()
            raw = cer(text, raw_tesseract(photo, language))
            raw_cpu = cpu_seconds() - started
            source = split_pages(photo)[0]
            assert source.image_png is not None
            started, wall = cpu_seconds(), time.perf_counter()
            read = ocr_page(source.image_png, number=1, dpi=source.dpi, languages=[language])
            ours_cpu, _ = cpu_seconds() - started, time.perf_counter() - wall
            ours = cer(text, read.text)
            right, scored = fields_right(Document(media_type="image/jpeg", pages=[read]), truth)
            row = totals[condition]
            second = ""
            if reader is not None:
                started = cpu_seconds()
                both = ocr_page(source.image_png, number=1, dpi=source.dpi, languages=[language], second_reader=reader)
                row["second_cpu"].append(cpu_seconds() - started)
                row["second"].append(cer(text, both.text))
                second_right, _ = fields_right(Document(media_type="image/jpeg", pages=[both]), truth)
                row["second_right"].append(second_right)
                second = (
                    f"  + {reader.name}: CER {row['second'][-1]:.3f} fields {second_right:2}"
                    f" CPU-s {row['second_cpu'][-1]:.2f}"
                )
            row["raw"].append(raw)
            row["docline"].append(ours)
            row["raw_cpu"].append(raw_cpu)
            row["cpu"].append(ours_cpu)
            row["right"].append(right)
            row["scored"].append(scored)
            print(
                f"  {condition:13} {name:18} CER raw {raw:.3f} | docline {ours:.3f}  fields {right:2}/{scored:<2}"
                f"  CPU-s raw {raw_cpu:.2f} docline {ours_cpu:.2f}{second}",
                flush=True,
            )
    print("per condition (mean over pages):")
    for condition, row in totals.items():
        n = len(row["raw"])
        print(
            f"  {condition:13} CER raw {sum(row['raw']) / n:.3f} | docline {sum(row['docline']) / n:.3f}"
            f"  worse than raw on {sum(d > r + 0.002 for d, r in zip(row['docline'], row['raw'], strict=True))}/{n}"
            f"  fields {int(sum(row['right']))}/{int(sum(row['scored']))}"
            f"  CPU-s/page raw {sum(row['raw_cpu']) / n:.2f} docline {sum(row['cpu']) / n:.2f}"
        )
        if row["second"]:
            print(
                f"  {'':13} + {args.second_reader}: CER {sum(row['second']) / n:.3f}"
                f"  fields {int(sum(row['second_right']))}/{int(sum(row['scored']))}"
                f"  CPU-s/page {sum(row['second_cpu']) / n:.2f}"
            )


if __name__ == "__main__":
    main()
