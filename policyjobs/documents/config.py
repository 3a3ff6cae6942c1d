"""The documents section of a tenant's configuration: its definitions and their deadline."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from policyjobs.intake.events import Trigger
from policyjobs.tenants.config import ConfigModel, ConfigSection, Identifier, Text, reject_repeats


class DocumentScope(StrEnum):
    """The kind of reference a document is rendered for."""

    QUOTE = "quote"
    TRANSACTION = "transaction"
    SEGMENT = "segment"
    POLICY = "policy"
    TERM = "term"
    INVOICE = "invoice"


class DocumentFormat(StrEnum):
    """The file format a document is rendered to."""

    PDF = "pdf"
    HTML = "html"
    TEXT = "text"


class DocumentDefinition(ConfigModel):
    """A document rendered when its trigger fires on a reference of its scope."""

    static_name: Identifier
    name: Text
    trigger: Trigger
    scope: DocumentScope
    format: DocumentFormat = DocumentFormat.PDF
    template: Text


class DocumentsConfig(ConfigModel):
    """The tenant's document definitions and the deadline of its documents jobs."""

    timeout_seconds: Annotated[int, Field(strict=True, gt=0)] = 120
    definitions: tuple[DocumentDefinition, ...] = ()

    @model_validator(mode="after")
    def _unique_static_names(self) -> Self:
        names = [definition.static_name for definition in self.definitions]
        reject_repeats(self, names, "definitions", "staticName")
        return self


class DocumentsSection(ConfigSection):
    """The `documents` key."""

    documents: DocumentsConfig = Field(default_factory=DocumentsConfig)
