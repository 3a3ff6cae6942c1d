"""Rendering one document, without a store: templates, sandbox, PDF, storage keys."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pypdf
import pytest

from policyjobs.documents.render import RenderError, html_to_pdf, render_markup
from policyjobs.documents.renderers import Renderers, RenderTimeout
from policyjobs.documents.states import DocumentState
from policyjobs.documents.storage import LocalStorage
from policyjobs.testing.processes import alive

CONTEXT = {"event": {"data": {"insured": {"name": "Ada <Lovelace>"}}},
           "reference": {"type": "quote", "locator": "Q-1"}}


def test_html_templates_escape_and_text_templates_do_not() -> None:
    template = "{{ event.data.insured.name }}"
    assert render_markup("t", template, CONTEXT, escape=True) == "Ada &lt;Lovelace&gt;"
    assert render_markup("t", template, CONTEXT, escape=False) == "Ada <Lovelace>"


@pytest.mark.parametrize(("template", "failure", "words"), [
    ("<p>\n{{ event.data.missing.name }}</p>", DocumentState.DATA_ERROR, "line 2"),
    ("{% if %}", DocumentState.RENDER_ERROR, "line 1"),
    ("{{ reference.__class__.__mro__ }}", DocumentState.RENDER_ERROR, "unsafe"),
    ("{{ 1 / 0 }}", DocumentState.RENDER_ERROR, "ZeroDivisionError"),
])
def test_template_errors_name_the_template_line_and_cause(template: str, failure: DocumentState,
                                                         words: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_markup("quoteSummary", template, CONTEXT, escape=True)
    assert caught.value.failure == failure
    assert "template quoteSummary" in caught.value.message
    assert words in caught.value.message


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with a stylesheet that would print its path, and records it."""

    requests: list[str] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = stylesheet("h1::after", f"FETCHED {self.path}").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output quiet."""


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server's base URL, and the paths it was asked for."""
    requests: list[str] = []
    handler = type("Handler", (_Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def pdf_text(pdf: bytes) -> str:
    """The text of every page of a PDF."""
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def stylesheet(where: str, words: str) -> str:
    """A stylesheet that prints `words` at the pseudo-element `where`."""
    return f'{where} {{ content: "{words}" }}'


def test_a_pdf_fetches_nothing_from_the_network_or_the_disk(
        tmp_path: Path, recorder: tuple[str, list[str]]) -> None:
    base, requests = recorder
    on_disk = tmp_path / "leak.css"
    on_disk.write_text(stylesheet("p::before", "FROM THE DISK"))
    inline = base64.b64encode(stylesheet("body::before", "FROM A DATA URL").encode()).decode()
    html = (f"<link rel='stylesheet' href='{base}/style.css'>"
            f"<link rel='stylesheet' href='file://{on_disk}'>"
            f"<link rel='stylesheet' href='data:text/css;base64,{inline}'>"
            f"<img src='{base}/logo.png'><h1>Quote Q-1</h1><p>Insured</p>")

    text = pdf_text(html_to_pdf("t", html))

    assert "Quote Q-1" in text
    assert "FROM A DATA URL" in text  # a stylesheet that arrives shows; these did not:
    assert "FROM THE DISK" not in text
    assert "FETCHED" not in text
    assert requests == []


def test_a_pdf_that_cannot_be_made_is_a_conversion_error() -> None:
    with pytest.raises(RenderError) as caught:
        html_to_pdf("huge", "<div style='font-size: 1e308px'>x</div>")
    assert caught.value.failure == DocumentState.CONVERSION_ERROR


MONO = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def pdf_fonts(pdf: bytes) -> list[str]:
    """The fonts a PDF's first page uses, without their subsets' random prefixes."""
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    resources: Any = page["/Resources"]  # pypdf's objects, indexed as the PDF has them
    fonts = resources["/Font"].values()
    return sorted(str(font.get_object()["/BaseFont"]).split("+")[-1] for font in fonts)


@pytest.mark.skipif(not MONO.exists(), reason="needs a font file to embed")
def test_a_documents_own_fonts_are_not_seen_by_the_next() -> None:
    """Renders share the system's fonts, gathered once; a font a template brings in
    (`@font-face`) must not be found by a later template that names the same family."""
    font = base64.b64encode(MONO.read_bytes()).decode()
    mark = "p { font-family: 'Tenant Mark' }"
    brings = (f"<style>@font-face {{ font-family: 'Tenant Mark'; "
              f"src: url(data:font/ttf;base64,{font}) }} {mark}</style><p>A's letter</p>")
    names = f"<style>{mark}</style><p>B's letter</p>"

    assert pdf_fonts(html_to_pdf("a", brings)) == ["Tenant-Mark"]
    assert "Tenant-Mark" not in pdf_fonts(html_to_pdf("b", names))  # a system font
    assert pdf_fonts(html_to_pdf("a", brings)) == ["Tenant-Mark"]


@pytest.fixture
def renderers() -> Iterator[Renderers]:
    """Two renderer processes, stopped afterwards."""
    pool = Renderers(2)
    try:
        yield pool
    finally:
        pool.close()


def test_a_render_is_killed_at_its_deadline_and_its_renderer_replaced(
        renderers: Renderers) -> None:
    slow = "{% for i in range(20000) %}<p>{{ i }}</p>{% endfor %}"
    with pytest.raises(RenderTimeout):
        renderers.render("slow", slow, "pdf", {}, timeout=0.5)
    steps: list[str] = []
    rendered = renderers.render("fast", "{{ reference.locator }}", "text", CONTEXT, timeout=30,
                                on_start=lambda: steps.append("start"),
                                on_data_ready=lambda: steps.append("dataReady"))
    assert rendered.content == b"Q-1"
    assert 0 < rendered.seconds < 30
    assert steps == ["start", "dataReady"]


def test_renderers_are_reused_and_survive_template_errors(renderers: Renderers) -> None:
    first = renderers.render("one", "{{ reference.locator }}", "text", CONTEXT, timeout=30)
    with pytest.raises(RenderError):
        renderers.render("broken", "{% if %}", "text", CONTEXT, timeout=30)
    pdf = renderers.render("pdf", "<h1>{{ reference.locator }}</h1>", "pdf", CONTEXT,
                           timeout=30)
    assert first.content == b"Q-1"
    assert "Q-1" in pdf_text(pdf.content)
    assert len(renderers._idle) == 1  # one process served all three, one after another


def test_a_renderer_that_dies_is_an_error_and_is_replaced(renderers: Renderers) -> None:
    renderers.render("warm", "x", "text", {}, timeout=30)
    [renderer] = renderers._idle
    renderer.process.kill()
    renderer.process.wait()
    with pytest.raises(RenderError, match="died"):
        renderers.render("after", "x", "text", {}, timeout=30)
    assert renderers.render("again", "y", "text", {}, timeout=30).content == b"y"


def test_a_renderer_outlives_the_thread_that_first_needed_it(renderers: Renderers) -> None:
    """Linux's parent-death signal follows the thread that started a process: a renderer
    started on a thread that has ended since must still serve the next render."""
    first = threading.Thread(target=renderers.render, args=("x", "x", "text", {}),
                             kwargs={"timeout": 30})
    first.start()
    first.join()
    [renderer] = renderers._idle
    time.sleep(0.2)  # time enough for a signal the thread's end would have sent

    assert renderer.process.poll() is None
    assert renderers.render("y", "y", "text", {}, timeout=30).content == b"y"


def test_a_renderer_dies_with_its_parent(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, time\n"
        "from policyjobs.documents.renderers import Renderers\n"
        "pool = Renderers(1)\n"
        "pool.render('x', 'x', 'text', {}, timeout=30)\n"
        "print(pool._idle[0].process.pid, flush=True)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, "the renderer outlived its parent"
        time.sleep(0.05)


def test_storage_writes_atomically_and_refuses_escaping_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("tenant/doc.pdf", b"%PDF", "application/pdf")
    assert storage.get("tenant/doc.pdf") == b"%PDF"
    assert [p.name for p in (tmp_path / "tenant").iterdir()] == ["doc.pdf"]
    for key in ("../x", "/etc/passwd", "a/../../b", "a//b", "", ".incoming/x"):
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.put(key, b"x", "text/plain")


def test_storage_sweeps_what_a_killed_writer_left_and_nothing_else(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("tenant/doc.pdf", b"%PDF", "application/pdf")
    assert list((tmp_path / ".incoming").iterdir()) == []  # a finished write leaves nothing
    stale, fresh = tmp_path / ".incoming" / "tmpstale", tmp_path / ".incoming" / "tmpfresh"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    assert storage.sweep() == 1
    assert sorted(p.name for p in (tmp_path / ".incoming").iterdir()) == ["tmpfresh"]
    assert storage.get("tenant/doc.pdf") == b"%PDF"
