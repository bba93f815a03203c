"""The typed document model every stage speaks: a document is pages, a page is lines, a line is words.

Boxes are ``(x0, y0, x1, y1)`` in pixels of the page as the user sees it upright (after rotation was applied),
origin top-left. Confidences are in 0..1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BBox = tuple[float, float, float, float]
TextSource = Literal["text-layer", "ocr"]


class Word(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    conf: float = Field(ge=0.0, le=1.0)
    bbox: BBox


class Line(BaseModel):
    words: list[Word] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def bbox(self) -> BBox:
        return union_bbox([word.bbox for word in self.words])


class Page(BaseModel):
    number: int = Field(ge=1, description="1-based page number within the document")
    width: int = Field(gt=0, description="width in pixels, upright")
    height: int = Field(gt=0, description="height in pixels, upright")
    dpi: float = Field(gt=0)
    rotation: int = Field(0, description="clockwise degrees applied to make the page upright: 0, 90, 180, 270")
    skew: float = Field(0.0, description="small-angle deskew applied, counter-clockwise degrees")
    corners: tuple[float, float, float, float, float, float, float, float] | None = Field(
        None,
        description="a photographed page: its corners in the image as given (x, y of top-left, top-right, "
        "bottom-right, bottom-left), from which it was cut out and seen from straight above",
    )
    flattened: bool = Field(False, description="the light across the page (a photo's) was made even before OCR")
    languages: list[str] = Field(default_factory=list, description="Tesseract language codes, e.g. ['deu']")
    source: TextSource
    lines: list[Line] = Field(default_factory=list)

    @property
    def words(self) -> list[Word]:
        return [word for line in self.lines for word in line.words]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def mean_confidence(self) -> float:
        words = self.words
        return sum(w.conf for w in words) / len(words) if words else 0.0


class Document(BaseModel):
    media_type: str
    pages: list[Page] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "\f".join(page.text for page in self.pages)

    @property
    def language(self) -> str | None:
        """The document's main language: the first language of the first page that has one (Tesseract code)."""
        return next((page.languages[0] for page in self.pages if page.languages), None)


def union_bbox(boxes: list[BBox]) -> BBox:
    """The smallest box around all ``boxes``; ``(0, 0, 0, 0)`` for none."""
    if not boxes:
        return (0.0, 0.0, 0.0, 0.0)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
