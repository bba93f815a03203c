"""A user-defined JSON Schema document type end to end: DOCLINE_TYPES-style settings, a scanned page through OCR,
classification by the type's own keywords, offline extraction by its own labels, validation by its schema."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from tests.support.docline import run_app

SCHEMA = {
    "title": "Delivery note",
    "type": "object",
    "x-keywords": {"de": ["lieferschein", "packstücke"], "en": ["delivery note"]},
    "required": ["note_number", "delivered_on"],
    "properties": {
        "note_number": {"type": "string", "x-labels": {"de": ["Lieferschein-Nr."], "en": ["Delivery note no."]}},
        "delivered_on": {"type": "string", "format": "date", "x-labels": {"de": ["Lieferdatum"]}},
        "parcels": {"type": "integer", "minimum": 1, "x-labels": {"de": ["Packstücke"]}},
    },
}

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def scanned_page(lines: list[str]) -> bytes:
    image = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 44)
    for index, line in enumerate(lines):
        draw.text((160, 200 + index * 90), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(200, 200))
    return out.getvalue()


def test_json_schema_type_through_the_pipeline(tmp_path: Path) -> None:
    schema = tmp_path / "types" / "delivery_note.json"
    schema.parent.mkdir()
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    page = scanned_page(
        ["Spedition Nord GmbH", "Lieferschein", "Lieferschein-Nr.: LS-5531", "Lieferdatum: 14.02.2024", "Packstücke: 3"]
    )
    with run_app(tmp_path / "app", types=[schema], review_confidence_threshold=0.0) as app:
        client = app.client()
        doc_id = client.post("/v1/documents", files={"file": ("note.png", page)}).json()["id"]
        done = app.wait(doc_id)
    assert done["status"] == "completed", done
    assert done["document_type"] == "delivery_note"
    assert done["data"] == {"note_number": "LS-5531", "delivered_on": "2024-02-14", "parcels": 3}
    assert done["fields"]["note_number"]["page"] == 1
    assert done["fields"]["note_number"]["bbox"]
