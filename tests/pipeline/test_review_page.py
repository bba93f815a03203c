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
            "DOCLINE_BUNDLES": "true",  # the split review is one of the flows under test
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


def _invoice_png(number: str, total: str) -> bytes:
    """A clean printed invoice, large enough for Tesseract to read at 300 dpi."""
    font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    big, normal = ImageFont.truetype(font_path, 64), ImageFont.truetype(font_path, 40)
    image = Image.new("RGB", (2480, 3508), "white")
    draw = ImageDraw.Draw(image)
    lines = [
        (big, "ACME Optics GmbH"),
        (normal, f"Invoice No: {number}"),
        (normal, "Invoice date: 2026-11-02"),
        (normal, "Due date: 2026-12-02"),
        (normal, "Customer: Brillen Berger KG"),
        (normal, "Net amount: 100.00 EUR"),
        (normal, "VAT: 19.00 EUR"),
        (normal, f"Total amount: {total} EUR"),
        (normal, "IBAN: DE89370400440532013000"),
    ]
    y = 250
    for font, text in lines:
        draw.text((220, y), text, font=font, fill="black")
        y += 130
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


def _wait_status(server: Server, doc_id: str, wanted: set[str], timeout: float = 90) -> dict[str, Any]:
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
def submitted(server: Server) -> dict[str, str]:
    """Invoices submitted together so they are read while the browser starts: one whose total does not add up (a
    validation error to correct), and consistent ones."""
    ids = {}
    for name, number, total in (
        ("mismatch", "INV-2041", "150.00"),
        ("consistent", "INV-2042", "119.00"),
        ("raced", "INV-2043", "119.00"),
    ):
        res = server.client.post(
            "/v1/documents", files={"file": (f"{number}.png", _invoice_png(number, total), "image/png")}
        )
        assert res.status_code in (200, 202), res.text
        ids[name] = res.json()["id"]
    return ids


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


def _watch(page: Any) -> list[str]:
    """What the page sends and is answered, and what it logs: told when a wait on the page fails."""
    seen: list[str] = []
    page.on("response", lambda res: seen.append(f"{res.request.method} {res.url} -> {res.status}"))
    page.on("requestfailed", lambda req: seen.append(f"{req.method} {req.url} failed: {req.failure}"))
    page.on("console", lambda msg: seen.append(f"console {msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: seen.append(f"page error: {exc}"))
    return seen


def _wait_shown(page: Any, selector: str, server: Server, seen: list[str], timeout: float = 30_000) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(selector).wait_for(timeout=timeout)
    except PlaywrightTimeout:
        said = page.locator("#status").inner_text(timeout=1_000)
        raise AssertionError(
            f"{selector} not shown; the page says {said!r}; it saw:\n"
            + "\n".join(seen[-40:])
            + f"\n--- server log\n{server.log.read_text()[-4000:]}"
        ) from None


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


def test_review_flow_in_chromium(server: Server, submitted: dict[str, str], browser_context: Any) -> None:
    doc = _wait_status(server, submitted["mismatch"], {"needs_review"})
    doc_id = doc["id"]
    boxed = {path: f for path, f in doc["fields"].items() if f.get("bbox") and f.get("page")}
    assert boxed, f"the extraction located no field on the page: {doc['fields']}"
    assert any(e["field"] == "total_amount" for e in doc["validation"]["errors"]), doc["validation"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    seen = _watch(page)
    page.goto(server.url + "/")

    # The API answers 401 without a token: the page asks for one. Cancelled, the queue says why and offers the
    # prompt again; a wrong token is refused and asked for again.
    page.get_by_label("Token", exact=True).wait_for()
    page.keyboard.press("Escape")
    page.get_by_text("A token is required to use this server.").first.wait_for()
    page.get_by_role("button", name="Enter token").click()
    page.get_by_label("Token", exact=True).fill("wrong-token")
    page.get_by_role("button", name="Use token").click()
    page.get_by_text("The token was refused").wait_for()
    page.get_by_label("Token", exact=True).fill(TOKEN)
    page.get_by_role("button", name="Use token").click()

    # The queue: needs_review comes first and lists our document.
    link = page.locator(f'section[data-status="needs_review"] a[href="#/documents/{doc_id}"]')
    link.wait_for()
    assert page.evaluate("() => sessionStorage.getItem('docline.token')") == TOKEN
    assert page.locator("section.queue").first.get_attribute("data-status") == "needs_review"
    page.screenshot(path=str(SCREENSHOTS / "queue.png"))

    # Filters: by status and by type narrow the queue.
    page.get_by_label("Status", exact=True).select_option("completed")
    page.locator('section[data-status="needs_review"]').wait_for(state="detached")
    page.locator('section[data-status="completed"]').wait_for()
    assert page.locator("section.queue").count() == 1
    assert page.locator(f'a[href="#/documents/{doc_id}"]').count() == 0
    page.goto(server.url + "/#/?type=prescription")
    page.locator('section[data-status="needs_review"] p.muted').wait_for()
    assert page.locator(f'a[href="#/documents/{doc_id}"]').count() == 0
    page.goto(server.url + f"/#/?type={doc['document_type']}")
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

    # Validation errors sit next to their fields, announced to assistive technology.
    total = page.get_by_label("Total amount", exact=True)
    for issue in doc["validation"]["errors"]:
        row = page.locator(f'.row[data-field="{issue["field"]}"]')
        if row.count():
            assert issue["message"] in row.locator("p.error").inner_text()
    assert total.get_attribute("aria-invalid") == "true"
    message_id = page.locator('.row[data-field="total_amount"] p.error').get_attribute("id")
    assert message_id in (total.get_attribute("aria-describedby") or "").split()

    # Correct the total, approve.
    reviews: list[str] = []
    page.on("request", lambda req: reviews.append(req.url) if req.method == "POST" else None)
    total.fill("119.00")
    if "total_amount" in boxed:
        box = page.locator('rect.box[data-field="total_amount"]')
        assert "active" in (box.get_attribute("class") or ""), "focusing a field highlights its box"
    page.keyboard.press("Enter")  # Enter in a field never decides: nothing is sent
    page.screenshot(path=str(SCREENSHOTS / "corrected.png"))
    assert not reviews, reviews
    others = {_wait_status(server, submitted[name], {"needs_review"})["id"] for name in ("consistent", "raced")}
    page.get_by_role("button", name="Approve").click()
    _wait_shown(page, "#doc-status .st-completed", server, seen)
    # Who decided (the token's name: DOCLINE_API_TOKEN is "api"), when, and what they changed.
    assert "approve by api on" in page.locator("#review-decision").inner_text()
    assert page.locator("#review-decision time").get_attribute("datetime")
    changed = page.locator("#review-changes li").all_inner_texts()
    assert len(changed) == 1
    assert changed[0].startswith("total_amount: ")
    assert changed[0].endswith("→ 119")
    # The next document waiting for a person is offered.
    next_href = page.locator("#next-review").get_attribute("href") or ""
    assert next_href.removeprefix("#/documents/") in others
    page.screenshot(path=str(SCREENSHOTS / "approved.png"))
    assert not errors, errors
    assert reviews == [f"{server.url}/v1/documents/{doc_id}/review"]

    # Over REST: the workflow finished with the reviewer's correction.
    done = server.client.get(f"/v1/documents/{doc_id}").json()
    assert done["status"] == "completed"
    assert done["review"]["decision"] == "approve"
    assert done["review"]["corrections"] == {"total_amount": 119}
    assert done["review"]["reviewer"] == "api"
    assert [c["field"] for c in done["review"]["changes"]] == ["total_amount"]
    assert done["review"]["changes"][0]["after"] == 119
    assert done["data"]["total_amount"] == 119
    page.close()


def test_a_cancelled_token_prompt_is_not_shown_again_by_a_later_refusal(server: Server, browser_context: Any) -> None:
    """The queue asks for its lists at once and the prompt comes with the first refusal. A list refused after the
    reader cancelled fails like the others; it does not open the prompt again (the queue would wait on it)."""
    page = browser_context.new_page()
    held: list[Any] = []
    page.route("**/v1/documents?status=failed*", lambda route: held.append(route))
    page.goto(server.url + "/")
    page.get_by_label("Token", exact=True).wait_for()
    page.keyboard.press("Escape")
    deadline = time.monotonic() + 15
    while not held:
        assert time.monotonic() < deadline, "the queue never asked for its failed documents"
        page.wait_for_timeout(50)
    held[0].continue_()  # refused now, after the prompt was cancelled
    page.locator('section[data-status="failed"] p.banner.error').wait_for()
    assert page.locator("p.banner.error").all_inner_texts() == ["A token is required to use this server."] * len(
        page.locator("section.queue").all()
    )
    assert not page.get_by_label("Token", exact=True).is_visible()
    # Asking for the prompt still brings it.
    page.get_by_role("button", name="Enter token").click()
    page.get_by_label("Token", exact=True).wait_for()
    page.close()


def test_reject_with_the_keyboard(server: Server, submitted: dict[str, str], browser_context: Any) -> None:
    doc_id = _wait_status(server, submitted["consistent"], {"needs_review"})["id"]
    page = browser_context.new_page()
    seen = _watch(page)
    # A new tab has its own sessionStorage: this one starts with the token already given.
    page.add_init_script(f"sessionStorage.setItem('docline.token', {TOKEN!r})")
    page.goto(server.url + "/")
    page.locator(f'a[href="#/documents/{doc_id}"]').focus()
    page.keyboard.press("Enter")
    page.locator("figure.page.loaded").first.wait_for()
    assert page.evaluate("() => document.activeElement.tagName") == "H1", "the document view takes focus"
    page.get_by_role("button", name="Reject").focus()
    page.keyboard.press("Enter")
    # Rejecting is final, so the page asks once more; Escape keeps the document, the dialog's button rejects it.
    confirm = page.get_by_role("dialog", name="Reject this document?")
    confirm.wait_for()
    page.keyboard.press("Escape")
    confirm.wait_for(state="hidden")
    page.get_by_role("button", name="Reject").focus()
    page.keyboard.press("Enter")
    confirm.get_by_role("button", name="Reject document").focus()
    page.keyboard.press("Enter")
    _wait_shown(page, "#doc-status .st-rejected", server, seen)
    assert "rejected_by_reviewer" in page.locator("#doc-error").inner_text()

    done = server.client.get(f"/v1/documents/{doc_id}").json()
    assert done["status"] == "rejected"
    assert done["review"]["decision"] == "reject"
    assert done["review"]["corrections"] == {}
    assert done["error"]["code"] == "rejected_by_reviewer"
    page.close()


def test_a_reject_confirmed_right_after_a_cancel_is_sent(server: Server, browser_context: Any) -> None:
    """A dialog's "close" event is dispatched a task after it closed. Cancelled and asked again at once (a reader
    quick on the keys), the late event of the first showing must not answer the second."""
    png = _invoice_png("INV-2045", "119.00")
    res = server.client.post("/v1/documents", files={"file": ("INV-2045.png", png, "image/png")})
    doc_id = _wait_status(server, res.json()["id"], {"needs_review"})["id"]
    page = browser_context.new_page()
    seen = _watch(page)
    page.add_init_script(f"sessionStorage.setItem('docline.token', {TOKEN!r})")
    page.goto(server.url + f"/#/documents/{doc_id}")
    page.get_by_role("button", name="Reject").click()
    confirm = page.get_by_role("dialog", name="Reject this document?")
    confirm.wait_for()
    page.evaluate(
        "() => { document.getElementById('reject-dialog').close(); document.getElementById('reject').click(); }"
    )
    confirm.get_by_role("button", name="Reject document").click()
    _wait_shown(page, "#doc-status .st-rejected", server, seen)
    assert server.client.get(f"/v1/documents/{doc_id}").json()["status"] == "rejected"
    page.close()


def test_a_decision_made_elsewhere_is_shown(server: Server, submitted: dict[str, str], browser_context: Any) -> None:
    doc_id = _wait_status(server, submitted["raced"], {"needs_review"})["id"]
    page = browser_context.new_page()
    page.add_init_script(f"sessionStorage.setItem('docline.token', {TOKEN!r})")
    page.goto(server.url + f"/#/documents/{doc_id}")
    page.get_by_role("button", name="Reject").wait_for()
    # Another reviewer approves over REST while this page is open.
    res = server.client.post(f"/v1/documents/{doc_id}/review", json={"decision": "approve", "corrections": {}})
    assert res.status_code == 202, res.text
    _wait_status(server, doc_id, {"completed"})

    page.get_by_role("button", name="Reject").click()
    page.get_by_role("button", name="Reject document").click()
    page.locator("#status.error").wait_for()
    assert "not waiting for a review" in page.locator("#status").inner_text()
    page.locator("#doc-status .st-completed").wait_for()
    assert page.get_by_role("button", name="Reject").count() == 0
    assert server.client.get(f"/v1/documents/{doc_id}").json()["status"] == "completed"
    page.close()


def test_confirm_a_split_in_chromium(server: Server, browser_context: Any) -> None:
    """A file whose split into documents the machine is unsure of: the reviewer ticks the gap where the second
    document begins and confirms; the file becomes two documents, each with its own review."""
    from tests.support.pdfs import text_pdf_pages

    first = [
        "ACME Optics GmbH",
        "Marktplatz 3, 20095 Hamburg",
        "Tel. 040 123456",
        "Invoice",
        "Invoice No: INV-3001",
        "Invoice date: 2026-11-02",
        "Total amount: 119.00 EUR",
    ]
    rows = [f"Item {i}   1   10.00   10.00" for i in range(1, 12)]
    pdf = text_pdf_pages([first, rows])
    res = server.client.post("/v1/documents", files={"file": ("stack.pdf", pdf, "application/pdf")})
    assert res.status_code in (200, 202), res.text
    doc = _wait_status(server, res.json()["id"], {"needs_review"})
    assert doc["review"]["reasons"] == ["split_unsure"], doc

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(f"sessionStorage.setItem('docline.token', {TOKEN!r})")
    page.goto(server.url + f"/#/documents/{doc['id']}")
    toggle = page.get_by_label("New document from page 2")
    toggle.wait_for()
    assert not toggle.is_checked(), "the proposal was one document"
    assert page.locator("#split-summary").inner_text() == "One document."
    page.locator(".strip .thumb img[src^='blob:']").first.wait_for()
    toggle.check()
    assert page.locator("#split-summary").inner_text() == "2 documents: page 1; page 2."
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "split.png"))
    page.get_by_role("button", name="Confirm split").click()
    parts = page.locator("#doc-parts li a")
    parts.first.wait_for(timeout=30_000)
    assert parts.count() == 2
    assert not errors, errors

    bundle = server.client.get(f"/v1/documents/{doc['id']}").json()
    assert [p["pages"] for p in bundle["parts"]] == [[1], [2]]
    assert bundle["review"]["corrections"] == {"boundaries": [2]}
    # Each part is a document of its own, held for its own review (every document is, on this server).
    part = _wait_status(server, bundle["parts"][0]["id"], {"needs_review"})
    assert part["bundle"] == {"id": doc["id"], "pages": [1]}
    parts.first.click()
    page.locator("#doc-bundle a").wait_for()
    page.get_by_role("button", name="Approve").wait_for()
    page.close()


def test_fields_read_by_a_learned_layout_are_marked(server: Server, browser_context: Any) -> None:
    # An approved invoice of this sender (the flow above approves one) teaches docline its layout.
    if not server.client.get("/v1/layouts").json()["items"]:
        res = server.client.post(
            "/v1/documents", files={"file": ("INV-2050.png", _invoice_png("INV-2050", "119.00"), "image/png")}
        )
        first = _wait_status(server, res.json()["id"], {"needs_review"})["id"]
        assert server.client.post(f"/v1/documents/{first}/review", json={"decision": "approve"}).status_code == 202
        _wait_status(server, first, {"completed"})
    deadline = time.monotonic() + 30
    while not server.client.get("/v1/layouts").json()["items"]:
        assert time.monotonic() < deadline, "no layout memory was learned"
        time.sleep(0.3)
    res = server.client.post(
        "/v1/documents", files={"file": ("INV-2044.png", _invoice_png("INV-2044", "119.00"), "image/png")}
    )
    doc = _wait_status(server, res.json()["id"], {"needs_review"})
    assert doc["fields"]["invoice_number"]["layout"], doc["fields"]

    page = browser_context.new_page()
    page.add_init_script(f"sessionStorage.setItem('docline.token', {TOKEN!r})")
    page.goto(server.url + f"/#/documents/{doc['id']}")
    badge = page.locator('.row[data-field="invoice_number"] .learned')
    badge.wait_for()
    assert "layout learned from this sender's reviewed documents" in (badge.get_attribute("title") or "")
    described = page.get_by_label("Invoice number", exact=True).get_attribute("aria-describedby") or ""
    assert badge.get_attribute("id") in described.split()
    learned = {path for path, field in doc["fields"].items() if field.get("layout")}
    assert page.locator(".row .learned").count() == len(learned & set(doc["fields"]))
    page.screenshot(path=str(SCREENSHOTS / "learned.png"))
    page.close()
