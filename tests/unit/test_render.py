"""Rendering one document, without a store: templates, sandbox, PDF, storage keys."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest

from policyjobs.documents.isolation import RenderTimeout, render_isolated
from policyjobs.documents.render import Failure, RenderError, html_to_pdf, render_markup
from policyjobs.documents.storage import LocalStorage

CONTEXT = {"event": {"data": {"insured": {"name": "Ada <Lovelace>"}}},
           "reference": {"type": "quote", "locator": "Q-1"}}


def test_html_templates_escape_and_text_templates_do_not() -> None:
    template = "{{ event.data.insured.name }}"
    assert render_markup("t", template, CONTEXT, escape=True) == "Ada &lt;Lovelace&gt;"
    assert render_markup("t", template, CONTEXT, escape=False) == "Ada <Lovelace>"


@pytest.mark.parametrize(("template", "failure", "words"), [
    ("<p>\n{{ event.data.missing.name }}</p>", Failure.DATA, "line 2"),
    ("{% if %}", Failure.RENDER, "line 1"),
    ("{{ reference.__class__.__mro__ }}", Failure.RENDER, "unsafe"),
    ("{{ 1 / 0 }}", Failure.RENDER, "ZeroDivisionError"),
])
def test_template_errors_name_the_template_line_and_cause(template: str, failure: Failure,
                                                         words: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_markup("quoteSummary", template, CONTEXT, escape=True)
    assert caught.value.failure == failure
    assert "template quoteSummary" in caught.value.message
    assert words in caught.value.message


def test_pdf_holds_the_text_and_fetches_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not include")
    html = (f"<h1>Quote Q-1</h1><img src='file://{secret}'>"
            "<link rel='stylesheet' href='http://127.0.0.1:9/x.css'>")
    pdf = html_to_pdf("t", html)
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Quote Q-1" in text
    assert "do not include" not in text


def test_a_pdf_that_cannot_be_made_is_a_conversion_error() -> None:
    with pytest.raises(RenderError) as caught:
        html_to_pdf("huge", "<div style='font-size: 1e308px'>x</div>")
    assert caught.value.failure == Failure.CONVERSION


def test_an_isolated_render_is_killed_at_its_deadline() -> None:
    slow = "{% for i in range(20000) %}<p>{{ i }}</p>{% endfor %}"
    with pytest.raises(RenderTimeout):
        render_isolated("slow", slow, "pdf", {}, timeout=0.5, on_data_ready=lambda: None)
    steps: list[str] = []
    content = render_isolated("fast", "{{ reference.locator }}", "text", CONTEXT, timeout=30,
                              on_data_ready=lambda: steps.append("dataReady"))
    assert content == b"Q-1"
    assert steps == ["dataReady"]


def test_storage_writes_atomically_and_refuses_escaping_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("tenant/doc.pdf", b"%PDF")
    assert storage.get("tenant/doc.pdf") == b"%PDF"
    assert storage.exists("tenant/doc.pdf")
    assert [p.name for p in (tmp_path / "tenant").iterdir()] == ["doc.pdf"]
    for key in ("../x", "/etc/passwd", "a/../../b", "a//b", ""):
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.put(key, b"x")
