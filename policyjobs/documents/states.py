"""How far a document got: its `documentInstanceState`."""

from __future__ import annotations

import enum


class DocumentState(enum.StrEnum):
    """A document moves draft → dataReady → ready, or stops at the step that failed."""

    DRAFT = "draft"
    DATA_READY = "dataReady"  # the template rendered; the file is being made
    READY = "ready"
    DATA_ERROR = "dataError"  # the template needs data the event does not carry
    RENDER_ERROR = "renderError"  # the template itself is broken or misbehaves
    CONVERSION_ERROR = "conversionError"  # HTML could not become a PDF
