"""The labeling page end to end: a real uvicorn process, driven in headless Chromium through Playwright.

Without Playwright or Chromium these tests skip; under NLPIPE_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.store.schema import Annotation
from nlpipe.types import Record, Span
from tests.conftest import REQUIRE_SERVICES, make_settings, nlpipe_serve

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
KEYS = "alice:key-alice,plain-key"
UNLABELED = [
    "The striker scored twice as the home team won the cup final",
    "Shares slid after the bank missed its quarterly profit forecast",
    "Parliament passed the budget after a long debate among senators",
    "Acme Corp opened a new factory in Leeds to build electric buses",
    "Rain delayed the start of the cricket test in Sydney",
]
PRE = ["Globex announced record profits for the year", "The senate rejected the proposed tax reform"]
EMOJI = "Loved it 😍😍 thanks to Jane at Acme 🙌 in Paris"  # characters outside the BMP before every span


def _missing(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(message + " (NLPIPE_REQUIRE_SERVICES=1: the browser tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _missing("Playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM}: install the Debian packages chromium and chromium-driver")
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as exc:
            _missing(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store with two datasets and `nlpipe serve` on a loopback port; yields (base URL, settings)."""
    settings = make_settings(tmp_path_factory.mktemp("ui"))
    st = open_store(settings)
    labeled = [
        Record(text="Initech reported higher revenue", labels=["business"], spans=[Span(0, 7, "ORG")]),
        Record(text="The minister resigned", labels=["politics"]),
        Record(text="The keeper saved a penalty", labels=["sports"]),
    ]
    import_records(st, "news", labeled + [Record(text=t, labels=[]) for t in UNLABELED], create=True)
    import_records(st, "pre", labeled + [Record(text=t, labels=[]) for t in PRE], create=True)
    import_records(st, "pre", [Record(text=t, labels=["business"]) for t in PRE], source="rule", author="kw")
    import_records(st, "emoji", [labeled[0], Record(text=EMOJI, labels=[])], create=True)
    acme = EMOJI.index("Acme")
    import_records(st, "emoji", [Record(text=EMOJI, labels=[], spans=[Span(acme, acme + 4, "ORG")])], source="rule",
                   author="gazetteer")  # fmt: skip
    st.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")},
        "NLPIPE_HOME": str(settings.home),
        "NLPIPE_MODELS_DIR": str(settings.models_dir),
        "NLPIPE_API_KEYS": KEYS,
    }
    with nlpipe_serve(env) as base:
        yield base, settings


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    blocked: list[str] = []  # what the page's Content-Security-Policy refused (an inline style, a foreign URL)
    pg.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert blocked == [], f"Content-Security-Policy violations on the page: {blocked}"


def _get(url: str) -> dict:
    """GET with a key: reading annotators' work needs one once keys are configured."""
    with urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": "plain-key"}), timeout=10) as r:
        return json.loads(r.read())


def _ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']")


def _doc_id(page) -> int:
    from playwright.sync_api import expect

    expect(page.locator("#doc-title")).to_have_text(re.compile(r"^Document \d+"))
    return int(page.locator("#doc-title").inner_text().split()[1])


def _settled(page) -> None:
    """Wait until no action of the page is queued or running (app.js marks them with body[data-busy])."""
    page.wait_for_selector("body:not([data-busy])", state="attached")


def _select_text(page, word: str) -> None:
    """Select the first occurrence of ``word`` in the document text, as a person dragging the mouse would, once the
    page has settled (an action still queued could re-render the text and drop the selection)."""
    _settled(page)
    page.evaluate(
        """(word) => {
            const box = document.querySelector('#doc-text');
            const at = box.textContent.indexOf(word);
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            const range = document.createRange();
            let seen = 0, node;
            while ((node = walker.nextNode())) {
                const n = node.textContent.length;
                if (at >= seen && at < seen + n) range.setStart(node, at - seen);
                const end = at + word.length;
                if (end > seen && end <= seen + n) { range.setEnd(node, end - seen); break; }
                seen += n;
            }
            const sel = window.getSelection();
            sel.removeAllRanges();
            sel.addRange(range);
        }""",
        word,
    )


def test_ui_label_three_documents_with_the_keyboard_and_mark_a_span(page, served):
    from playwright.sync_api import expect

    base, settings = served
    page.goto(base + "/ui")
    _ready(page)
    page.fill("#api-key", "key-alice")  # a key that carries the name alice
    page.click("#signin-button")
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    expect(page.locator("#annotator")).to_have_value("alice")
    page.select_option("#strategy", "random")
    page.select_option("#dataset", "news")
    expect(page.locator("#progress-text")).to_have_text("0 / 5 labeled by you · 5 remaining")
    buttons = page.locator("#labels button.key")
    expect(buttons).to_have_count(3)
    _settled(page)  # a button replaced while it is read has no layout: its innerText would lose the line break
    assert buttons.all_inner_texts() == ["1\nbusiness", "2\npolitics", "3\nsports"]

    done: dict[int, str] = {}
    for key, label in (("1", "business"), ("3", "sports"), ("2", "politics")):
        doc = _doc_id(page)
        assert doc not in done
        page.keyboard.press(key)
        expect(page.locator(f"#labels button[data-name='{label}']")).to_have_attribute("aria-pressed", "true")
        if label == "politics":  # on the third document, also mark an entity span
            text = page.locator("#doc-text").inner_text()
            word = text.split()[0]
            _select_text(page, word)
            page.keyboard.press("q")  # the first entity type (ORG) has key q
            expect(page.locator("#doc-text mark.span.own")).to_have_text(word)
            expect(page.locator("#my-spans li")).to_have_count(1)
            span_doc, span_word = doc, word
        done[doc] = label
        page.keyboard.press("Enter")
        expect(page.locator("#doc-title")).not_to_have_text(f"Document {doc}")
    expect(page.locator("#progress-text")).to_have_text("3 / 5 labeled by you · 2 remaining")

    page.reload()
    _ready(page)
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    expect(page.locator("#progress-text")).to_have_text("3 / 5 labeled by you · 2 remaining")
    assert _doc_id(page) not in done  # the queue no longer offers what alice labeled

    # Stored: through the API ...
    for doc, label in done.items():
        got = _get(f"{base}/v1/datasets/news/documents/{doc}?annotator=alice")
        assert [a["label"] for a in got["annotations"] if a["kind"] == "label"] == [label]
    spans = [a for a in _get(f"{base}/v1/datasets/news/documents/{span_doc}?annotator=alice")["annotations"]
             if a["kind"] == "span"]  # fmt: skip
    assert [(s["label"], s["start"], s["end"]) for s in spans] == [("ORG", 0, len(span_word))]
    # ... and in the store, as alice's human annotations.
    st = open_store(settings)
    with st.session() as s:
        data = load_dataset(s, "news", labeled_only=False)
        texts = dict(zip(data.doc_ids, data.texts, strict=True))
        rows = s.execute(
            select(Annotation.document_id, Annotation.kind, Annotation.label, Annotation.author).where(
                Annotation.source == "human"
            )
        ).all()
    st.close()
    assert sorted(rows) == sorted(
        [(d, "label", lab, "alice") for d, lab in done.items()] + [(span_doc, "span", "ORG", "alice")]
    )
    assert texts[span_doc].startswith(span_word)


def test_ui_accept_reject_undo_and_custom_shortcuts(page, served):
    from playwright.sync_api import expect

    base, _ = served
    page.goto(base + "/ui")
    _ready(page)
    page.fill("#annotator", "bob")
    page.fill("#api-key", "plain-key")  # a plain key: the page sends the name as X-Annotator
    page.click("#signin-button")
    expect(page.locator("#whoami")).to_have_text("Signed in as bob")
    page.select_option("#strategy", "random")
    page.select_option("#dataset", "pre")
    doc = _doc_id(page)
    pre = page.locator("#pre li.pre-item")
    expect(pre).to_have_count(1)
    expect(pre).to_contain_text("business")

    page.keyboard.press("a")  # accept the first suggestion
    expect(pre).to_have_count(0)
    expect(page.locator("#labels button[data-name='business']")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Control+z")  # undo: the copy goes, the suggestion is back
    expect(pre).to_have_count(1)
    expect(page.locator("#labels button[data-name='business']")).to_have_attribute("aria-pressed", "false")
    page.get_by_role("button", name=re.compile("^Reject rule label business")).click()
    expect(pre).to_have_count(0)
    got = _get(f"{base}/v1/datasets/pre/documents/{doc}?annotator=bob")
    assert got["annotations"] == [] and [r["decision"] for r in got["reviews"]] == ["reject"]

    # Shortcuts are configurable on the page and remembered by the browser.
    page.click("#shortcuts summary")
    page.fill("input[aria-label='Key for label politics']", "p")
    page.keyboard.press("Tab")
    expect(page.locator("#labels button[data-name='politics'] kbd")).to_have_text("p")
    page.locator("#doc-text").focus()
    page.keyboard.press("p")
    expect(page.locator("#labels button[data-name='politics']")).to_have_attribute("aria-pressed", "true")
    page.reload()
    _ready(page)
    expect(page.locator("#labels button[data-name='politics'] kbd")).to_have_text("p")
    labels = [a["label"] for a in _get(f"{base}/v1/datasets/pre/documents/{doc}?annotator=bob")["annotations"]]
    assert labels == ["politics"]
    # The rejected suggestion stays hidden for bob after the reload, and alice still sees it.
    assert _get(f"{base}/v1/datasets/pre/documents/{doc}?annotator=bob")["pre_annotations"] == []
    assert len(_get(f"{base}/v1/datasets/pre/documents/{doc}?annotator=alice")["pre_annotations"]) == 1


def test_ui_spans_after_emoji_land_on_the_right_characters(page, served):
    """The API counts characters, JavaScript UTF-16 units: a suggestion after emoji shows on its word, and a span
    marked after emoji is stored on the characters selected."""
    from playwright.sync_api import expect

    base, _ = served
    page.goto(base + "/ui")
    _ready(page)
    page.fill("#annotator", "carol")
    page.fill("#api-key", "plain-key")
    page.click("#signin-button")
    page.select_option("#dataset", "emoji")
    doc = _doc_id(page)
    expect(page.locator("#doc-text mark.span.suggested")).to_have_text("Acme")
    _select_text(page, "Jane")
    page.keyboard.press("q")  # ORG
    expect(page.locator("#doc-text mark.span.own")).to_have_text("Jane")
    page.keyboard.press("a")  # accept the suggested ORG span on Acme
    expect(page.locator("#doc-text mark.span.own")).to_have_count(2)
    got = _get(f"{base}/v1/datasets/emoji/documents/{doc}?annotator=carol")
    spans = sorted((a["start"], a["end"], a["label"]) for a in got["annotations"] if a["kind"] == "span")
    assert [(EMOJI[s:e], label) for s, e, label in spans] == [("Jane", "ORG"), ("Acme", "ORG")]
    page.get_by_role("button", name=re.compile("^Remove span ORG Jane")).click()
    expect(page.locator("#doc-text mark.span.own")).to_have_count(1)
    page.keyboard.press("Control+z")  # undo the removal: the span comes back on the same characters
    expect(page.locator("#doc-text mark.span.own")).to_have_count(2)
    got = _get(f"{base}/v1/datasets/emoji/documents/{doc}?annotator=carol")
    spans = sorted((a["start"], a["end"]) for a in got["annotations"] if a["kind"] == "span")
    assert [EMOJI[s:e] for s, e in spans] == ["Jane", "Acme"]


def test_ui_has_security_headers_and_keeps_the_api_key_out_of_local_storage(page, served):
    from playwright.sync_api import expect

    base, _ = served
    for path in ("/ui", "/ui/app.js", "/ui/style.css"):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            headers = r.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer", path
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp, path
    page.goto(base + "/ui")
    page.evaluate("localStorage.setItem('nlpipe.apiKey', JSON.stringify('key-alice'))")  # an older page's copy
    page.reload()
    _ready(page)
    assert page.evaluate("localStorage.getItem('nlpipe.apiKey')") is None
    page.fill("#api-key", "key-alice")
    page.click("#signin-button")
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    page.select_option("#dataset", "emoji")  # chips and suggestions with colours: styles set under the CSP
    expect(page.locator("#doc-text mark.span.suggested")).to_have_count(1)
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert "key-alice" not in stored
    assert page.evaluate("sessionStorage.getItem('nlpipe.apiKey')") == '"key-alice"'


def test_api_docs_render_offline(page, served):
    """/docs (Swagger UI) and /redoc render in the browser with every request off this machine refused: their
    scripts and styles come from the installed package (issue 15: they were blank offline, loaded from a CDN)."""
    base, _ = served
    foreign: list[str] = []

    def only_local(route) -> None:
        url = route.request.url
        if url.startswith(base):
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)  # Swagger UI drew the operations from /openapi.json
    assert page.get_by_text("/v1/models/{name}:predict", exact=True).count() >= 1
    page.goto(base + "/redoc")
    page.get_by_text("/v1/models/{name}:predict").first.wait_for(timeout=20_000)
    # Redoc's bundle draws its "API docs by Redocly" badge from its own site; refused, the page works without it
    foreign = [url for url in foreign if url != "https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert foreign == [], f"the docs pages asked for files off this machine: {foreign}"
