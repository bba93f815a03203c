"""Pages: split any supported file into its pages, each a text-layer Page or a page image to OCR.

``iter_pages`` is lazy (one page decoded at a time) and takes a page range, so a 100-page scan never sits decoded
in memory at once and a workflow can split a long document in slices. ``split_pages`` is the list form.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from extractors.intake import PDF, Limits, check_size, sniff
from extractors.model import Page


class PageSource(BaseModel):
    """One page as it comes out of the file: either its text layer, or an image that still needs OCR.

    Image pages carry PNG bytes: store them in a blob store and pass the key, never the bytes, through history.
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    number: int = Field(ge=1)
    dpi: float = Field(gt=0)
    page: Page | None = Field(None, description="the finished page when the PDF has a real text layer")
    image_png: bytes | None = Field(None, description="the page image to OCR, PNG")

    @property
    def needs_ocr(self) -> bool:
        return self.page is None


def count_pages(data: bytes, limits: Limits | None = None) -> int:
    """How many pages ``data`` has; raises the same typed errors as ``iter_pages``."""
    limits = limits or Limits()
    check_size(data, limits)
    media_type = sniff(data)
    if media_type == PDF:
        from extractors import pdf

        return pdf.count_pages(data, limits)
    from extractors import images

    return images.count_pages(data, media_type, limits)


def iter_pages(
    data: bytes, limits: Limits | None = None, *, first: int = 1, last: int | None = None
) -> Iterator[PageSource]:
    """Yield pages ``first..last`` (1-based, inclusive; ``last=None`` means to the end), one decoded at a time."""
    limits = limits or Limits()
    check_size(data, limits)
    media_type = sniff(data)
    if media_type == PDF:
        from extractors import pdf

        yield from pdf.iter_pages(data, limits, first=first, last=last)
    else:
        from extractors import images

        yield from images.iter_pages(data, media_type, limits, first=first, last=last)


def split_pages(data: bytes, limits: Limits | None = None) -> list[PageSource]:
    """All pages of ``data``; prefer ``iter_pages`` for long documents."""
    return list(iter_pages(data, limits))
