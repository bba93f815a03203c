"""``docline ocr FILE``: the text of every page of a scan, PDF or image, as plain text or JSON with word boxes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.cli import app


@app.command()
def ocr(
    file: Annotated[Path, typer.Argument(help="a PDF, TIFF, PNG, JPEG, WebP or BMP file", dir_okay=False)],
    lang: Annotated[str, typer.Option("--lang", help="auto, or Tesseract languages like eng+deu")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="pages with words and boxes as JSON")] = False,
    workers: Annotated[int, typer.Option(help="pages read in parallel", min=1)] = os.cpu_count() or 1,
) -> None:
    """Read the text of FILE: pages separated by a form feed, or JSON with words, confidences and boxes."""
    from extractors.errors import DocumentError
    from extractors.language import parse_languages
    from extractors.ocr import read_document

    try:
        languages = parse_languages(lang)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lang") from exc
    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.echo(f"docline ocr: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        document = read_document(data, languages=languages, workers=workers)
    except DocumentError as exc:
        typer.echo(f"docline ocr: {file}: {exc.message} ({exc.code})", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        pages: list[dict[str, Any]] = [
            {
                "number": page.number,
                "width": page.width,
                "height": page.height,
                "rotation": page.rotation,
                "language": "+".join(page.languages) or None,
                "source": page.source,
                "text": page.text,
                "words": [
                    {"text": w.text, "conf": round(w.conf, 3), "bbox": [round(v, 1) for v in w.bbox]}
                    for w in page.words
                ],
            }
            for page in document.pages
        ]
        json.dump({"pages": pages}, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(document.text + "\n")
