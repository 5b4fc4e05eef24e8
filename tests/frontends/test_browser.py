"""End to end: the Streamlit app served for real, driven in headless Chromium by Playwright.

Chromium is Debian's (``make browser`` installs it); Playwright's own browser download cannot
work here. Screenshots of every step land in ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, SEEDS
from tests.index.test_pdf import manual_pdf

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 90_000

XSS_NAME = "harbour_minutes.txt"
XSS_TEXT = (
    "Minutes of the Quillon harbour council.\n"
    "The Quillon harbour council approved the breakwater budget of four million crowns.\n"
    "<script>window.__pwned=1</script>\n"
    '<img src=x onerror="window.__pwned=2">\n'
    "Work on the breakwater starts in the autumn.\n"
)
# A name that Markdown would turn into links, an image (a request to that port) and KaTeX.
HOSTILE_NAME = "see www.example.org bob@example.com & ![a](http:127.0.0.1:39999) $x^2$.txt"
HOSTILE_TEXT = "The Quillon ferry runs twice a day in summer and once a day in winter.\n"
SERVED: dict[str, Path] = {}  # the sources folder the module's server reads
PDF_NAME = "r_data_manual.pdf"
UPLOAD_NAME = "zephyr_lighthouse.txt"
UPLOAD_TEXT = (
    "The Zephyr Lighthouse stands on the northern cape of Quillon island.\n"
    "The Zephyr Lighthouse was restored in 1887 by the harbour guild after a winter storm.\n"
    "Its lamp can be seen from thirty kilometres at sea.\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the server and any child it started, nothing else
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed: run `make browser`")
    base = tmp_path_factory.mktemp("browser")
    shutil.copytree(SEEDS, base / "sources")
    (base / "sources" / XSS_NAME).write_text(XSS_TEXT, encoding="utf-8")
    (base / "sources" / HOSTILE_NAME).write_text(HOSTILE_TEXT, encoding="utf-8")
    (base / "sources" / PDF_NAME).write_bytes(manual_pdf())
    port = _free_port()
    env = {
        **os.environ,
        "QA_SOURCES": str(base / "sources"),
        "QA_STORE": str(base / "store"),
        "HF_HUB_OFFLINE": "1",
    }
    log = (base / "streamlit.log").open("wb")
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", "20", "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    SERVED["sources"] = base / "sources"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("streamlit did not start:\n" + (base / "streamlit.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server)
    # The first session starts indexing the sources folder in the background; every session
    # then shows the last run's summary.
    page.get_by_test_id("stChatInputTextArea").wait_for()
    page.get_by_test_id("stSidebar").get_by_text(re.compile(r"Indexed in")).wait_for()
    yield page
    context.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _ask(page, question: str):  # type: ignore[no-untyped-def]
    """Ask in the chat input; return the locator of the answer's chat message once drawn."""
    _, answer = _reply(page, question)
    answer.get_by_test_id("stExpander").first.wait_for()
    return answer


def _quotes(answer) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """Citation number -> quote, read back from the answer text ``quote [n] quote [m]``."""
    text = answer.locator(".qa-answer").evaluate(
        "a => { const c = a.cloneNode(true);"
        " c.querySelectorAll('.qa-card').forEach(x => x.remove()); return c.textContent; }"
    )
    return {int(n): q.strip() for q, n in re.findall(r"(.*?)\[(\d+)\]", text, flags=re.S)}


def _open_citation(answer, label: str):  # type: ignore[no-untyped-def]
    exp = answer.get_by_test_id("stExpander").filter(has_text=label).first
    exp.locator("summary").click()
    exp.locator(".qa-passage mark").first.wait_for()
    exp.scroll_into_view_if_needed()
    return exp


def _timing(name: str, seconds: float) -> None:
    """Keep a measured time in test-artifacts/timings.json (listed in the closing note)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(name, []).append(round(seconds, 3))
    path.write_text(json.dumps(data, indent=1))


def test_ask_open_citation_then_upload_and_ask_again(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _shot(page, "01-indexed")
    assert "5 added" in page.get_by_test_id("stSidebar").inner_text()

    answer = _ask(page, "Who resigned over the data-sharing agreement?")
    quotes = _quotes(answer)
    n = next(n for n, q in quotes.items() if "Melanie Krause" in q)
    _shot(page, "02-answer")

    exp = _open_citation(answer, f"[{n}] ")
    assert exp.locator(".qa-passage mark").text_content() == quotes[n]
    assert "Melanie Krause" in exp.locator(".qa-passage mark").inner_text()
    assert "Verified" in exp.inner_text()
    _shot(page, "03-citation")

    exp.get_by_text("Whole document").click()
    box = exp.locator(".qa-source")
    box.locator("mark").wait_for()
    page.wait_for_timeout(500)  # the scroll script runs after the box is drawn
    inside = box.evaluate(
        "b => { const m = b.querySelector('mark').getBoundingClientRect();"
        " const r = b.getBoundingClientRect();"
        " return m.top >= r.top - 1 && m.top <= r.bottom; }"
    )
    assert inside, "the whole-source view is not scrolled to the quote"
    _shot(page, "04-whole-source")

    upload = tmp_path / UPLOAD_NAME
    upload.write_text(UPLOAD_TEXT, encoding="utf-8")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator("input[type=file]").set_input_files(str(upload))
    sidebar.get_by_role("button", name="Upload and index").click()
    sidebar.get_by_text(re.compile(r"Indexed in .* 1 added")).wait_for()
    assert f"{UPLOAD_NAME}: added" in sidebar.inner_text()
    sources = page.get_by_test_id("stExpander").filter(has_text="All sources: 6 files").first
    sources.locator("summary").click()
    sources.get_by_test_id("stDataFrame").wait_for()
    sources.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    _shot(page, "05-uploaded-sources-view")
    sources.locator("summary").click()

    answer = _ask(page, "When was the Zephyr Lighthouse restored?")
    assert "1887" in answer.locator(".qa-answer").inner_text()
    exp = _open_citation(answer, "[1] The Zephyr Lighthouse stands")
    assert "1887" in exp.locator(".qa-passage mark").inner_text()
    _shot(page, "06-answer-from-upload")


def test_source_html_is_shown_as_text_never_run(page) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(page, "What budget did the Quillon harbour council approve?")
    exp = _open_citation(answer, "Minutes of the Quillon harbour council")
    passage = exp.locator(".qa-passage")
    assert "<script>window.__pwned=1</script>" in passage.inner_text()
    assert '<img src=x onerror="window.__pwned=2">' in passage.inner_text()
    assert passage.locator("script, img").count() == 0
    exp.get_by_text("Whole document").click()
    exp.locator(".qa-source mark").wait_for()
    page.wait_for_timeout(500)
    assert "<script>window.__pwned=1</script>" in exp.locator(".qa-source").inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    _shot(page, "07-escaped-html")


def test_file_names_are_shown_literally_never_as_links_images_or_math(page) -> None:  # type: ignore[no-untyped-def]
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    answer = _ask(page, "How often does the Quillon ferry run in summer?")
    exp = _open_citation(answer, "[1] ")
    # the label names the title (the first line); the open citation names the file
    assert HOSTILE_NAME in exp.inner_text().replace("\u200b", "")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=HOSTILE_NAME).click()
    remove = sidebar.get_by_role("button", name=re.compile("^Remove"))
    remove.wait_for()
    assert remove.inner_text().replace("\u200b", "") == f"Remove {HOSTILE_NAME}…"
    page.wait_for_timeout(500)
    _shot(page, "08-hostile-names")
    # Nothing derived from the name became a link, an image, or rendered math.
    for area in (exp, sidebar):
        assert area.locator("a[href*='example'], a[href^='mailto'], a[href*='39999']").count() == 0
        assert area.locator("img[src*='39999'], .katex").count() == 0
    assert not [u for u in requests if "39999" in u or "example.org" in u]


def _reply(page, question: str):  # type: ignore[no-untyped-def]
    """Ask; return (the question's message, the reply's message) once the reply is drawn."""
    before = page.get_by_test_id("stChatMessage").count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    reply = page.get_by_test_id("stChatMessage").nth(before + 1)
    # an answer's text or a refusal's warning: drawn once the answer is in
    reply.locator(".qa-answer, [data-testid=stAlert]").first.wait_for()
    page.get_by_test_id("stSpinner").wait_for(state="detached")
    return page.get_by_test_id("stChatMessage").nth(before), reply


def test_a_conversation_shows_how_a_follow_up_was_read_and_refuses_a_new_topic(page) -> None:  # type: ignore[no-untyped-def]
    _, first = _reply(page, "Who resigned over the data-sharing agreement?")
    assert "Melanie Krause" in first.locator(".qa-answer").inner_text()
    asked, second = _reply(page, "What was her position?")
    assert "commissioner" in second.locator(".qa-answer").inner_text()
    # the reading is shown under the question, as text
    assert "Read as: What was her position? (about Melanie Krause" in asked.inner_text()
    asked, third = _reply(page, "Who painted the Mona Lisa?")
    assert "The sources don't answer this." in third.inner_text()
    assert "never mention" in third.inner_text()
    assert "Read as" not in asked.inner_text()
    _shot(page, "07-conversation")


def _in_view(page, locator) -> bool:  # type: ignore[no-untyped-def]
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] < height and box["y"] + box["height"] > 0


def test_clicking_a_marker_opens_its_passage_and_hovering_shows_the_quote(page) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(page, "Who resigned over the data-sharing agreement?")
    quotes = _quotes(answer)
    n = max(quotes)  # the last marker: its citation is furthest down, closed
    marker = answer.locator(f"a.qa-cite:text-is('[{n}]')").first
    if not marker.count():
        marker = answer.locator("a.qa-cite").nth(n - 1)
    marker.hover()
    card = marker.locator(".qa-card")
    card.wait_for(state="visible")
    assert quotes[n][:60] in card.inner_text().replace("\n", " ")
    _shot(page, "09-hover-card")
    page.mouse.wheel(0, -5000)  # the passage must be scrolled to, not already in view
    started = time.monotonic()
    marker.click()
    exp = answer.get_by_test_id("stExpander").filter(has_text=f"[{n}] ").first
    mark = exp.locator(".qa-passage mark").first
    mark.wait_for(state="visible")
    page.wait_for_function(
        "m => { const r = m.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }",
        arg=mark.element_handle(),
    )
    _timing("click_to_passage_s", time.monotonic() - started)
    assert exp.locator("details").evaluate("d => d.open")
    assert mark.text_content() == quotes[n]
    assert _in_view(page, mark)
    _shot(page, "10-marker-opened-passage")
    # "Copy answer" puts the quotes and their sources on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.url)
    answer.get_by_role("button", name="Copy answer").click()
    answer.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert quotes[n] in copied and f"[{n}] " in copied


def test_a_pdf_citation_shows_its_page_with_the_quote_highlighted(page) -> None:  # type: ignore[no-untyped-def]
    from index.loaders import load_bytes
    from qa.page_view import PageRenderer

    answer = _ask(page, "What does a fixed-width file store?")
    exp = _open_citation(answer, "R Data Manual")
    quote = exp.locator(".qa-passage mark").first.text_content()
    assert "page 1" in exp.inner_text()
    started = time.monotonic()
    exp.get_by_text("Original page").click()
    image = exp.get_by_test_id("stImage").locator("img")
    image.wait_for(state="visible")
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=image.element_handle())
    _timing("click_to_pdf_page_s", time.monotonic() - started)
    # The page image itself, whole: in a window tall enough for it (an element screenshot of
    # something taller than the window may catch the chat scrolling under it).
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2400})
    image.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    image.screenshot(path=str(ARTIFACTS / "11-pdf-page-highlight.png"))
    page.set_viewport_size(size)
    exp.get_by_test_id("stDownloadButton").scroll_into_view_if_needed()
    _shot(page, "11b-pdf-page-and-download")
    # The boxes: recompute the page for this quote and check the page shown is that image,
    # and that its highlight boxes cover the quote's glyphs.
    data = (SERVED["sources"] / PDF_NAME).read_bytes()
    text = load_bytes(PDF_NAME, data)
    start = text.text.index(quote)
    view = PageRenderer().render(data, text, start, start + len(quote))
    assert view is not None and view.page == 1 and view.highlights
    # Each glyph of the quote (PDF points, origin bottom left) lies in a highlight (pixels).
    scale, page_top = view.scale, view.height / view.scale
    for x0, y0, x1, y1 in view.glyph_boxes:
        px0, py0, px1, py1 = (
            x0 * scale,
            (page_top - y1) * scale,
            x1 * scale,
            (page_top - y0) * scale,
        )
        assert any(
            h[0] - 3 <= px0 and px1 <= h[2] + 3 and h[1] - 3 <= py0 and py1 <= h[3] + 3
            for h in view.highlights
        )
    # ...and the image on the page is exactly that drawing, pixel for pixel.
    shown = image.evaluate(
        "async i => { const r = await fetch(i.src);"
        " const b = new Uint8Array(await r.arrayBuffer());"
        " let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s); }"
    )
    drawn = Image.open(io.BytesIO(base64.b64decode(shown))).convert("RGB")
    assert drawn.tobytes() == Image.open(io.BytesIO(view.png)).convert("RGB").tobytes()
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [view.width, view.height]
    download = exp.get_by_test_id("stDownloadButton")
    assert "Download the original file" in download.inner_text()
    # The screenshot kept shows the highlight: inside the first box, the page is yellow-tinted.
    shot = Image.open(ARTIFACTS / "11-pdf-page-highlight.png").convert("RGB")
    sx, sy = shot.width / view.width, shot.height / view.height
    x0, y0, x1, y1 = view.highlights[0]
    box = shot.crop((int(x0 * sx), int(y0 * sy), int(x1 * sx), int(y1 * sy)))
    r, g, b = (sum(band) / len(band) for band in zip(*box.getdata(), strict=True))
    assert b < r - 20 and b < g - 20  # yellow: red and green well above blue


def test_a_scoped_question_cites_only_the_chosen_source(page) -> None:  # type: ignore[no-untyped-def]
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stMultiSelect").click()
    page.get_by_role("option", name=re.compile("Judge Approves Trump IRS-ICE")).click()
    page.keyboard.press("Escape")
    answer = _ask(page, "Who allowed the IRS to share tax information with ICE?")
    labels = answer.get_by_test_id("stExpander").locator("summary").all_inner_texts()
    assert labels and all("Judge Approves Trump IRS-ICE" in label for label in labels)
    _shot(page, "12-scoped-question")


def test_a_conversation_survives_a_reload(page) -> None:  # type: ignore[no-untyped-def]
    _reply(page, "Who resigned over the data-sharing agreement?")
    _reply(page, "What was her position?")
    page.wait_for_url(re.compile(r"[?&]c="))
    page.reload()
    page.get_by_test_id("stChatInputTextArea").wait_for()
    messages = page.get_by_test_id("stChatMessage")
    messages.nth(3).locator(".qa-answer").wait_for()
    assert messages.count() == 4
    assert "Melanie Krause" in messages.nth(1).locator(".qa-answer").inner_text()
    assert "commissioner" in messages.nth(3).locator(".qa-answer").inner_text()
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_role("button", name="Who resigned over the data-sharing agreement?")
    _shot(page, "13-conversation-after-reload")


def test_removing_a_document_asks_first(page) -> None:  # type: ignore[no-untyped-def]
    path = SERVED["sources"] / HOSTILE_NAME
    assert path.exists()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=HOSTILE_NAME).click()
    sidebar.get_by_role("button", name=re.compile("^Remove")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Remove this document?").wait_for()
    _shot(page, "14-remove-asks-first")
    assert path.exists()
    dialog.get_by_role("button", name="Keep it").click()
    dialog.wait_for(state="detached")
    assert path.exists()


def test_asking_while_a_reindex_runs_gets_an_answer(page) -> None:  # type: ignore[no-untyped-def]
    # Enough new text that the re-index takes several seconds on two cores.
    lines = [
        f"Ledger entry {i}: the {w} warehouse in district {i % 17} shipped {i * 7} crates "
        f"of {w} goods to the {i % 5} northern ports during week {i % 52}."
        for i, w in enumerate(["amber", "cobalt", "saffron", "umber", "teal"] * 120)
    ]
    (SERVED["sources"] / "zz_ledger.txt").write_text("\n\n".join(lines), encoding="utf-8")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="Re-index").click()
    progress = sidebar.get_by_test_id("stProgress")
    progress.wait_for()
    answer = _ask(page, "Who resigned over the data-sharing agreement?")
    assert "Melanie Krause" in answer.locator(".qa-answer").inner_text()
    still = progress.count() > 0 and progress.first.is_visible()
    _shot(page, "15-answer-while-indexing")
    assert still, "the re-index ended before the answer came: the test proved nothing"
    sidebar.get_by_text(re.compile(r"Indexed in .* 1 added")).wait_for(timeout=240_000)
