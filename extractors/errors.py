"""Errors a user can act on: each carries a stable ``code`` and a message shown as is by the API and review page."""

from __future__ import annotations


class DocumentError(Exception):
    """A document docline cannot process as given. Never a bug: the document ends ``rejected`` with this reason."""

    code: str = "document_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class EmptyFile(DocumentError):
    code = "empty_file"


class UnsupportedType(DocumentError):
    code = "unsupported_type"


class FileTooLarge(DocumentError):
    code = "file_too_large"


class TooManyPages(DocumentError):
    code = "too_many_pages"


class ImageTooLarge(DocumentError):
    """Pixel count over the limit: protects against decompression bombs."""

    code = "image_too_large"


class PageTooLarge(DocumentError):
    """A page whose picture would exceed the pixel budget once scaled for OCR or drawn from a PDF: refused before
    the pixels exist, so a hostile page cannot take a worker's memory (and be retried into the next one)."""

    code = "page_too_large"


class EncryptedPdf(DocumentError):
    code = "encrypted_pdf"


class CorruptFile(DocumentError):
    code = "corrupt_file"


class OcrFailed(DocumentError):
    code = "ocr_failed"


class UnknownDocumentType(DocumentError):
    code = "unknown_document_type"
