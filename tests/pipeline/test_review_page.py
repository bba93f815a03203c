"""The review page end to end: real `docline serve` (embedded sidecar, offline extractor, real Tesseract), a real
invoice image, and Debian's Chromium driven by Playwright: token prompt, queue, page image with field boxes,
a correction, approve, and the result changed over REST."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "review-page-token"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("DOCLINE_TEST_SCREENSHOTS", ROOT / "tests" / ".cache" / "review-page"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    client: httpx.Client
    log: Path


def _wait_ready(server: Server, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"docline serve exited with {proc.returncode}:\n{server.log.read_text()[-4000:]}")
        try:
            if server.client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"docline serve not ready in time:\n{server.log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`docline serve` on a free port with its own data dir; every document goes to review (threshold 1.0)."""
    workdir = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}
    env.update(
        {
            "DOCLINE_OFFLINE": "true",
            "DOCLINE_API_TOKEN": TOKEN,
            # Nothing extracted by OCR is certain, so the document is held for a person: the flow under test.
            "DOCLINE_REVIEW_CONFIDENCE_THRESHOLD": "1.0",
            "DOCLINE_OCR_LANGUAGES": '["eng"]',
        }
    )
    log = workdir / "serve.log"
    docline = Path(sys.executable).with_name("docline")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(docline),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--resources-path",
                str(ROOT / "components"),
                "--data",
                str(workdir / "data"),
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    srv = Server(url, client, log)
    try:
        _wait_ready(srv, proc, time.monotonic() + 30)
        yield srv
    finally:
        client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _invoice_png() -> bytes:
    """A clean printed invoice, large enough for Tesseract to read at 300 dpi."""
    font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    big, normal = ImageFont.truetype(font_path, 64), ImageFont.truetype(font_path, 40)
    image = Image.new("RGB", (2480, 3508), "white")
    draw = ImageDraw.Draw(image)
    lines = [
        (big, "ACME Optics GmbH"),
        (normal, "Invoice No: INV-2041"),
        (normal, "Invoice date: 2026-11-02"),
        (normal, "Due date: 2026-12-02"),
        (normal, "Customer: Brillen Berger KG"),
        (normal, "Net amount: 100.00 EUR"),
        (normal, "VAT: 19.00 EUR"),
        (normal, "Total amount: 119.00 EUR"),
        (normal, "IBAN: DE89370400440532013000"),
    ]
    y = 250
    for font, text in lines:
        draw.text((220, y), text, font=font, fill="black")
        y += 130
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


def _wait_status(server: Server, doc_id: str, wanted: set[str], timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = server.client.get(f"/v1/documents/{doc_id}").json()
        if doc["status"] in wanted:
            return doc
        assert doc["status"] not in {"failed", "rejected"}, f"{doc}\n{server.log.read_text()[-4000:]}"
        time.sleep(0.3)
    raise AssertionError(f"document {doc_id} never reached {wanted}: {doc}\n{server.log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def needs_review(server: Server) -> dict[str, Any]:
    res = server.client.post("/v1/documents", files={"file": ("invoice-2041.png", _invoice_png(), "image/png")})
    assert res.status_code in (200, 202), res.text
    return _wait_status(server, res.json()["id"], {"needs_review"})


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1366, "height": 768},  # a laptop screen
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def _displayed_boxes(page: Any) -> list[dict[str, Any]]:
    """Each drawn box with the field's bbox scaled to the image's displayed size, and where it really is."""
    return page.evaluate(
        """() => [...document.querySelectorAll('figure.page.loaded')].flatMap((fig) => {
            const img = fig.querySelector('img');
            const ir = img.getBoundingClientRect();
            return [...fig.querySelectorAll('rect.box')].map((r) => {
                const b = r.getBoundingClientRect();
                return {field: r.dataset.field, page: Number(fig.dataset.page),
                        scale: ir.width / img.naturalWidth, scaleY: ir.height / img.naturalHeight,
                        left: b.left - ir.left, top: b.top - ir.top, width: b.width, height: b.height};
            });
        })"""
    )


def test_review_flow_in_chromium(server: Server, needs_review: dict[str, Any], browser_context: Any) -> None:
    doc_id = needs_review["id"]
    boxed = {path: f for path, f in needs_review["fields"].items() if f.get("bbox") and f.get("page")}
    assert boxed, f"the extraction located no field on the page: {needs_review['fields']}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")

    # The API answers 401 without a token: the page asks for one; a wrong one is refused and asked for again.
    page.get_by_label("Token", exact=True).fill("wrong-token")
    page.get_by_role("button", name="Use token").click()
    page.wait_for_function("document.getElementById('token-hint').textContent.includes('refused')")
    page.get_by_label("Token", exact=True).fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    assert page.evaluate("sessionStorage.getItem('docline.token')") == TOKEN

    # The queue: needs_review comes first and lists our document.
    link = page.locator(f'section[data-status="needs_review"] a[href="#/documents/{doc_id}"]')
    link.wait_for()
    assert page.locator("section.queue").first.get_attribute("data-status") == "needs_review"
    page.screenshot(path=str(SCREENSHOTS / "queue.png"))

    # Filters: by status and by type narrow the queue.
    page.get_by_label("Status", exact=True).select_option("completed")
    page.wait_for_function("location.hash.includes('status=completed')")
    page.locator('section[data-status="completed"]').wait_for()
    assert page.locator(f'a[href="#/documents/{doc_id}"]').count() == 0
    page.goto(server.url + f"/#/?type={needs_review['document_type']}")
    link.wait_for()

    # The document: its page image with a box per located field, scaled to the displayed size.
    link.click()
    page.locator("figure.page.loaded").first.wait_for()
    boxes = _displayed_boxes(page)
    assert {b["field"] for b in boxes} == set(boxed)
    for b in boxes:
        x0, y0, x1, y1 = boxed[b["field"]]["bbox"]
        assert b["scale"] < 1, "the page image is shown smaller than its pixels on a laptop screen"
        assert b["left"] == pytest.approx(x0 * b["scale"], abs=2)
        assert b["top"] == pytest.approx(y0 * b["scaleY"], abs=2)
        assert b["width"] == pytest.approx((x1 - x0) * b["scale"], abs=2)
        assert b["height"] == pytest.approx((y1 - y0) * b["scaleY"], abs=2)
    page.screenshot(path=str(SCREENSHOTS / "document.png"))

    # Validation errors sit next to their fields.
    for issue in needs_review["validation"]["errors"]:
        row = page.locator(f'.row[data-field="{issue["field"]}"]')
        if row.count():
            assert issue["message"] in row.inner_text()

    # Correct a field (keyboard-labelled input), approve.
    field = next(p for p in ("invoice_number", *boxed) if p in needs_review["fields"])
    new_value = "INV-2041-R"
    box = page.locator(f'rect.box[data-field="{field}"]')
    reviews: list[str] = []
    page.on("request", lambda req: reviews.append(req.url) if req.method == "POST" else None)
    page.locator(f'[data-path="{field}"]').fill(new_value)
    page.keyboard.press("Enter")  # Enter in a field never decides: nothing is sent
    if box.count():
        assert "active" in (box.get_attribute("class") or ""), "focusing a field highlights its box"
    page.screenshot(path=str(SCREENSHOTS / "corrected.png"))
    assert not reviews, reviews
    page.get_by_role("button", name="Approve").click()
    page.locator("#doc-status .st-completed").wait_for(timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "approved.png"))
    assert not errors, errors
    assert reviews == [f"{server.url}/v1/documents/{doc_id}/review"]

    # Over REST: the workflow finished with the reviewer's correction.
    done = server.client.get(f"/v1/documents/{doc_id}").json()
    assert done["status"] == "completed"
    assert done["review"]["decision"] == "approve"
    assert done["review"]["corrections"] == {field: new_value}
    assert _lookup(done["data"], field) == new_value
    page.close()


def _lookup(data: Any, path: str) -> Any:
    for part in path.replace("[", ".").replace("]", "").split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data
