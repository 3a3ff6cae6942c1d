"""Rendering one document, pure: a Jinja2 template and its context in, file bytes out.

Templates run in a sandbox: they see only their context and cannot reach Python
internals. PDF conversion fetches nothing from the network or the disk; only
`data:` URLs (inline images and fonts) are allowed.
"""

from __future__ import annotations

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

    try:
        pdf = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"}),
                   base_url=None).write_pdf()
    except Exception as exc:
        raise RenderError(DocumentState.CONVERSION_ERROR,
                          f"document {static_name}: PDF conversion failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    assert isinstance(pdf, bytes)
    return pdf

