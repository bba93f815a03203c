"""Image files as pages: EXIF orientation, multi-page TIFF split lazily, colour modes, resolution."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from extractors.errors import ImageTooLarge, TooManyPages
from extractors.images import encode_png
from extractors.intake import Limits
from extractors.pages import iter_pages, split_pages


def png_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def gray(image: Image.Image, xy: tuple[int, int]) -> int:
    value = image.convert("L").getpixel(xy)
    assert isinstance(value, int)
    return value


def marked(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """A white page with a black square in its top-left corner, so orientation is visible."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle([0, 0, 49, 49], fill="black")
    return image


def test_exif_orientation_is_honoured() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the camera stored the picture sideways
    out = io.BytesIO()
    marked().save(out, format="JPEG", exif=exif, quality=95)
    [page] = split_pages(out.getvalue())
    assert page.image_png is not None
    image = png_bytes(page.image_png).convert("L")
    assert image.size == (200, 300)  # turned upright
    # The black corner moved from top-left to top-right.
    assert gray(image, (190, 10)) < 60
    assert gray(image, (10, 10)) > 200


def test_multipage_tiff_pages_in_order_and_by_range() -> None:
    frames = [Image.new("L", (60, 80), level) for level in (0, 100, 200)]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:], dpi=(150, 150))
    data = out.getvalue()
    pages = split_pages(data)
    assert [p.number for p in pages] == [1, 2, 3]
    assert [gray(png_bytes(p.image_png or b""), (5, 5)) for p in pages] == [0, 100, 200]
    assert all(p.dpi == 150 and p.needs_ocr for p in pages)
    # A slice decodes only what it yields.
    middle = list(iter_pages(data, first=2, last=2))
    assert [p.number for p in middle] == [2]
    with pytest.raises(TooManyPages, match="limit is 2"):
        split_pages(data, Limits(max_pages=2))


def test_group4_tiff_from_the_samples() -> None:
    with open("samples/documents/inv-it-multipage.tif", "rb") as f:
        pages = split_pages(f.read())
    assert len(pages) == 2
    assert pages[0].dpi == 200


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "CMYK", "I;16"])
def test_colour_modes_become_plain_pages(mode: str) -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0)) if mode in ("RGBA", "LA") else Image.new("RGB", (40, 40), "white")
    image = image.convert(mode) if mode != "I;16" else Image.new("I;16", (40, 40), 65535)
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    out = io.BytesIO()
    image.save(out, format=fmt)
    [page] = split_pages(out.getvalue())
    result = png_bytes(page.image_png or b"")
    assert result.mode in ("L", "RGB")
    # Transparent or white input must read as white paper, never black.
    assert gray(result, (20, 20)) > 200


def test_declared_resolution_or_a4_guess() -> None:
    out = io.BytesIO()
    Image.new("L", (1240, 1754), 255).save(out, format="PNG")  # no dpi: an A4 page at 150 dpi
    [page] = split_pages(out.getvalue())
    assert page.dpi == pytest.approx(150, abs=1)
    out = io.BytesIO()
    Image.new("L", (100, 100), 255).save(out, format="PNG", dpi=(300, 300))
    assert split_pages(out.getvalue())[0].dpi == pytest.approx(300, abs=0.5)


def test_pixel_limit_is_checked_from_the_header() -> None:
    out = io.BytesIO()
    Image.new("1", (2000, 2000), 1).save(out, format="PNG")
    with pytest.raises(ImageTooLarge, match="megapixels"):
        split_pages(out.getvalue(), Limits(max_pixels=1_000_000))


def test_png_pages_pass_through_unchanged() -> None:
    out = io.BytesIO()
    marked().convert("L").save(out, format="PNG")
    data = out.getvalue()
    assert split_pages(data)[0].image_png == data


@pytest.mark.parametrize("fmt", ["WEBP", "BMP"])
def test_webp_and_bmp(fmt: str) -> None:
    out = io.BytesIO()
    marked().save(out, format=fmt)
    [page] = split_pages(out.getvalue())
    assert png_bytes(page.image_png or b"").size == (300, 200)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 700), (1654, 257), (640, 512), (3, 1024), (17, 513)])
def test_encoded_png_holds_exactly_the_pixels_and_resolution(width: int, height: int) -> None:
    # Our own PNG writer (no row filter, RLE): Pillow must read back every pixel, the size and the dpi.
    pixels = bytes((x * 7 + y * 13 + (x * y) % 11) % 256 for y in range(height) for x in range(width))
    image = Image.frombytes("L", (width, height), pixels)
    png = encode_png(image, 199.5)
    decoded = Image.open(io.BytesIO(png))
    decoded.load()
    assert decoded.mode == "L"
    assert decoded.size == (width, height)
    assert decoded.tobytes() == pixels
    assert decoded.info["dpi"] == pytest.approx((199.5, 199.5), abs=0.02)


def test_bilevel_pages_stay_bilevel_pngs() -> None:
    image = Image.new("1", (64, 32), 1)
    decoded = Image.open(io.BytesIO(encode_png(image, 300.0)))
    assert decoded.mode == "1"
    assert decoded.tobytes() == image.tobytes()


@pytest.mark.parametrize("width", [1, 7, 8, 9, 1654])
def test_bilevel_rows_of_any_width_round_trip(width: int) -> None:
    image = Image.new("1", (width, 300), 1)
    ImageDraw.Draw(image).line((0, 0, width - 1, 299), fill=0)
    decoded = Image.open(io.BytesIO(encode_png(image, 200.0)))
    decoded.load()
    assert (decoded.mode, decoded.size) == ("1", (width, 300))
    assert decoded.tobytes() == image.tobytes()
