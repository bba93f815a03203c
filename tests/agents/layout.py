"""Build a Document from a text layout: each character is a 10×20 px cell, so columns line up as typed.

The offline extractor reads layout, so its tests draw documents as text; OCR itself is tested elsewhere.
"""

from __future__ import annotations

import re

from extractors.model import Document, Line, Page, Word

CHAR_W = 10
LINE_H = 30
GLYPH_H = 20


def document_from_text(*pages: str, conf: float = 0.95, low_conf_words: frozenset[str] = frozenset()) -> Document:
    built: list[Page] = []
    for number, text in enumerate(pages, start=1):
        lines: list[Line] = []
        rows = text.strip("\n").splitlines()
        for row_index, row in enumerate(rows):
            words = [
                Word(
                    text=match.group(0),
                    conf=0.4 if match.group(0) in low_conf_words else conf,
                    bbox=(
                        float(match.start() * CHAR_W),
                        float(row_index * LINE_H),
                        float(match.end() * CHAR_W),
                        float(row_index * LINE_H + GLYPH_H),
                    ),
                )
                for match in re.finditer(r"\S+", row)
            ]
            if words:
                lines.append(Line(words=words))
        width = max((len(row) for row in rows), default=1) * CHAR_W + CHAR_W
        built.append(
            Page(
                number=number,
                width=max(width, 800),
                height=max(len(rows) * LINE_H, 1000),
                dpi=72,
                source="text-layer",
                lines=lines,
            )
        )
    return Document(media_type="application/pdf", pages=built)
