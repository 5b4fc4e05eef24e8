"""End to end: the Streamlit app served for real, driven in headless Chromium by Playwright.

Chromium is Debian's (``make browser`` installs it); Playwright's own browser download cannot
work here. Screenshots of every step land in ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

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

from tests.conftest import ROOT, SEEDS

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
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
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
    # The first session indexes the sources folder (progress bar), then shows the chat input.
    page.get_by_test_id("stChatInputTextArea").wait_for()
    page.get_by_text(re.compile(r"Sources: \d+ files")).wait_for()
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
    text = answer.locator(".qa-answer").text_content()
    return {int(n): q.strip() for q, n in re.findall(r"(.*?)\[(\d+)\]", text, flags=re.S)}


def _open_citation(answer, label: str):  # type: ignore[no-untyped-def]
    exp = answer.get_by_test_id("stExpander").filter(has_text=label).first
    exp.locator("summary").click()
    exp.locator(".qa-passage mark").wait_for()
    exp.scroll_into_view_if_needed()
    return exp


def test_ask_open_citation_then_upload_and_ask_again(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _shot(page, "01-indexed")
    assert "4 added" in page.get_by_test_id("stSidebar").inner_text()

    answer = _ask(page, "Who resigned over the data-sharing agreement?")
    quotes = _quotes(answer)
    n = next(n for n, q in quotes.items() if "Melanie Krause" in q)
    _shot(page, "02-answer")

    exp = _open_citation(answer, f"[{n}] ")
    assert exp.locator(".qa-passage mark").text_content() == quotes[n]
    assert "Melanie Krause" in exp.locator(".qa-passage mark").inner_text()
    assert "Verified" in exp.inner_text()
    _shot(page, "03-citation")

    exp.get_by_text("Show whole source").click()
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
    sources = page.get_by_test_id("stExpander").filter(has_text="Sources: 5 files").first
    sources.locator("summary").click()
    sources.get_by_test_id("stDataFrame").wait_for()
    sources.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    _shot(page, "05-uploaded-sources-view")
    sources.locator("summary").click()

    answer = _ask(page, "When was the Zephyr Lighthouse restored?")
    assert "1887" in answer.locator(".qa-answer").inner_text()
    exp = _open_citation(answer, f"[1] {UPLOAD_NAME}")
    assert "1887" in exp.locator(".qa-passage mark").inner_text()
    _shot(page, "06-answer-from-upload")


def test_source_html_is_shown_as_text_never_run(page) -> None:  # type: ignore[no-untyped-def]
    answer = _ask(page, "What budget did the Quillon harbour council approve?")
    exp = _open_citation(answer, XSS_NAME)
    passage = exp.locator(".qa-passage")
    assert "<script>window.__pwned=1</script>" in passage.inner_text()
    assert '<img src=x onerror="window.__pwned=2">' in passage.inner_text()
    assert passage.locator("script, img").count() == 0
    exp.get_by_text("Show whole source").click()
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
    assert HOSTILE_NAME in exp.locator("summary").inner_text().replace("\u200b", "")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=HOSTILE_NAME).click()
    remove = sidebar.get_by_role("button", name=re.compile("^Remove"))
    remove.wait_for()
    assert remove.inner_text().replace("\u200b", "") == f"Remove {HOSTILE_NAME}"
    page.wait_for_timeout(500)
    _shot(page, "08-hostile-names")
    # Nothing derived from the name became a link, an image, or rendered math.
    for area in (exp.locator("summary"), sidebar):
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
