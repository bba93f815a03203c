"""Hand-written PDFs for tests and benchmarks: exactly the objects asked for, nothing a library would add."""

from __future__ import annotations

import io


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written object by object (object 1 is the catalog), with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_pdf(
    lines: list[str],
    *,
    page: tuple[int, int] = (595, 842),
    origin: tuple[int, int] = (60, 780),
    font_size: int = 11,
    font: str = "Helvetica",
) -> bytes:
    """A born-digital one-page PDF with ``lines`` in its text layer (``font``, a standard Type 1 font such as
    Helvetica or the fixed-pitch Courier, WinAnsi), the first line at ``origin`` on a ``page`` of that size in points
    (A4 by default)."""
    return text_pdf_pages([lines], page=page, origin=origin, font_size=font_size, font=font)


def text_pdf_pages(
    pages: list[list[str]],
    *,
    page: tuple[int, int] = (595, 842),
    origin: tuple[int, int] = (60, 780),
    font_size: int = 11,
    font: str = "Helvetica",
) -> bytes:
    """A born-digital PDF of one page per item of ``pages``, each with its lines as :func:`text_pdf` writes them (a
    page without lines is blank)."""
    count = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count)).encode()
    font_object = 3 + 2 * count
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Count %d /Kids [%s] >>" % (count, kids)]
    for lines in pages:
        body = f"BT /F1 {font_size} Tf {font_size + 3} TL {origin[0]} {origin[1]} Td " + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines
        )
        stream = (body + " ET").encode("cp1252")
        contents = len(objects) + 2
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R" % (*page, contents)
            + b" /Resources << /Font << /F1 %d 0 R >> >> >>" % font_object
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % font.encode())
    return raw_pdf(objects)
