"""Rendering one document, pure: a Jinja2 template and its context in, file bytes out.

Templates run in a sandbox: they see only their context and cannot reach Python
internals. PDF conversion fetches nothing from the network or the disk; only
`data:` URLs (inline images and fonts) are allowed.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from policyjobs.documents.states import DocumentState
from policyjobs.exceptions import PolicyjobsError

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}
EXTENSIONS = {"pdf": "pdf", "html": "html", "text": "txt"}


class RenderError(PolicyjobsError):
    """A document could not be rendered; `failure` is the state it stops in."""

    def __init__(self, failure: DocumentState, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


_html = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)
_text = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def render_markup(static_name: str, template: str, context: dict[str, Any],
                  *, escape: bool) -> str:
    """The template's output, or `RenderError` naming the template, line and cause."""
    environment = _html if escape else _text
    try:
        return environment.from_string(template).render(context)
    except jinja2.UndefinedError as exc:
        raise RenderError(DocumentState.DATA_ERROR,
                          f"template {static_name}{_line(exc)}: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(DocumentState.RENDER_ERROR,
                          f"template {static_name} line {exc.lineno}: {exc.message}") from exc
    except Exception as exc:  # the sandbox's SecurityError, a filter's TypeError, …
        raise RenderError(DocumentState.RENDER_ERROR,
                          f"template {static_name}{_line(exc)}: {type(exc).__name__}: {exc}") \
            from exc


def _line(exc: BaseException) -> str:
    """` line N` from the innermost template frame of a traceback, if there is one."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" line {line}" if line else ""


def html_to_pdf(static_name: str, html: str) -> bytes:
    """A PDF of `html`, fetching no resource but inline `data:` URLs."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fonts = _fonts()
    try:
        pdf = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"}),
                   base_url=None).write_pdf(font_config=fonts)
    except Exception as exc:
        raise RenderError(DocumentState.CONVERSION_ERROR,
                          f"document {static_name}: PDF conversion failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    finally:
        if fonts.added:  # this document's own fonts go with it
            _loaded.fonts = None
    assert isinstance(pdf, bytes)
    return pdf


_loaded = threading.local()


def _fonts() -> Any:
    """This thread's font configuration: the system's fonts, gathered once and shared by its
    documents (gathering them again costs a fifth of a one-page render). A document that
    adds fonts of its own (`@font-face`) has its configuration dropped after it, so no
    template ever sees another's fonts."""
    fonts = getattr(_loaded, "fonts", None)
    if fonts is None:
        fonts = _loaded.fonts = _font_configuration()()
    return fonts


@functools.cache
def _font_configuration() -> type:
    """WeasyPrint's `FontConfiguration`, noting whether a document added fonts to it (made
    on first use: WeasyPrint loads only where documents are rendered)."""
    from weasyprint.text.fonts import FontConfiguration

    class Fonts(FontConfiguration):  # type: ignore[misc]
        added = False

        def add_font_face(self, rule_descriptors: Any, url_fetcher: Any) -> Any:
            self.added = True
            return super().add_font_face(rule_descriptors, url_fetcher)

    return Fonts

