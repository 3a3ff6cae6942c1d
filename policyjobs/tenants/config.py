"""A tenant's YAML configuration, as validated pydantic models."""

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from policyjobs.exceptions import FieldProblem, InvalidInput, field_path


class DocumentTrigger(StrEnum):
    """The lifecycle moment that renders a document."""

    VALIDATED = "validated"
    PRICED = "priced"
    UNDERWRITTEN = "underwritten"
    ACCEPTED = "accepted"
    ISSUED = "issued"
    GENERATED = "generated"


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


class Cadence(StrEnum):
    """How often an installment plan bills within a term."""

    FULL_PAY = "fullPay"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUALLY = "semiannually"
    ANNUALLY = "annually"


class AnchorMode(StrEnum):
    """The day an installment lattice's frames are aligned to."""

    TERM_START_DAY = "termStartDay"
    GENERATE_DAY = "generateDay"
    DUE_DAY = "dueDay"


class OffsetBasis(StrEnum):
    """The grace-period boundary a delinquency event is offset from."""

    GRACE_PERIOD_START = "gracePeriodStart"
    GRACE_PERIOD_END = "gracePeriodEnd"


Identifier = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
Text = Annotated[str, Field(min_length=1)]
Days = Annotated[int, Field(strict=True, ge=0)]
Weight = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
_TIME_OF_DAY = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


def _reject(model: BaseModel, problems: Sequence[tuple[Sequence[str | int], str]]) -> None:
    """Raise one `ValidationError` that names the location of each problem, if there are any."""
    if problems:
        raise ValidationError.from_exception_data(
            type(model).__name__,
            [
                InitErrorDetails(
                    type=PydanticCustomError("tenant_config", "{detail}", {"detail": message}),
                    loc=tuple(loc),
                    input=None,
                )
                for loc, message in problems
            ],
        )


def _reject_repeats(model: BaseModel, names: list[str], list_key: str, name_key: str) -> None:
    """Reject each entry of a list whose name an earlier entry already used."""
    first = {name: index for index, name in reversed(list(enumerate(names)))}
    message = "{} {!r} is already used by {}[{}]"
    problems = [
        ((list_key, index, name_key), message.format(name_key, name, list_key, first[name]))
        for index, name in enumerate(names)
        if first[name] != index
    ]
    _reject(model, problems)


class _Section(BaseModel):
    """A configuration section read by its camelCase keys, where an unknown key is an error."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, validate_by_name=True
    )


class DocumentDefinition(_Section):
    """A document rendered when its trigger fires on a reference of its scope."""

    static_name: Identifier
    name: Text
    trigger: DocumentTrigger
    scope: DocumentScope
    format: DocumentFormat = DocumentFormat.PDF
    template: Text


class DocumentsConfig(_Section):
    """The tenant's document definitions and the deadline of its documents jobs."""

    timeout_seconds: Annotated[int, Field(strict=True, gt=0)] = 120
    definitions: tuple[DocumentDefinition, ...] = ()

    @model_validator(mode="after")
    def _unique_static_names(self) -> Self:
        names = [definition.static_name for definition in self.definitions]
        _reject_repeats(self, names, "definitions", "staticName")
        return self


class InstallmentPlan(_Section):
    """How a term's charges are split into installments, and when those are invoiced and due."""

    cadence: Cadence
    max_installments_per_term: Annotated[int, Field(strict=True, ge=1)] | None = None
    installment_weights: tuple[Weight, ...] | None = None
    generate_lead_days: Days = 0
    due_lead_days: Days = 0
    anchor_mode: AnchorMode = AnchorMode.TERM_START_DAY

    @model_validator(mode="after")
    def _weights_fit(self) -> Self:
        weights, limit = self.installment_weights, self.max_installments_per_term
        if weights == ():
            message = "give at least one weight, or leave the key out"
        elif weights is not None and self.cadence is Cadence.FULL_PAY and len(weights) > 1:
            message = f"{len(weights)} weights, but a fullPay plan has one installment"
        elif weights is not None and limit is not None and len(weights) > limit:
            message = f"{len(weights)} weights, but maxInstallmentsPerTerm is {limit}"
        else:
            return self
        _reject(self, [(("installmentWeights",), message)])
        return self


class InvoicingConfig(_Section):
    """The tenant's daily invoice generation run."""

    generate_time_of_day: str = "02:00"

    @field_validator("generate_time_of_day", mode="before")
    @classmethod
    def _time_of_day(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            raise PydanticCustomError(
                "time_of_day",
                'YAML read this as the number {value}: quote it, as in "02:30"',
                {"value": value},
            )
        if isinstance(value, str) and not _TIME_OF_DAY.fullmatch(value):
            raise PydanticCustomError("time_of_day", 'should be "HH:MM" on a 24-hour clock')
        return value


class DelinquencyEvent(_Section):
    """A delinquency event fired some days before or after a grace-period boundary."""

    name: Text
    offset_basis: OffsetBasis
    offset_days: Annotated[int, Field(strict=True)]


class DelinquencyConfig(_Section):
    """The grace period, lapse and events of the tenant's delinquencies."""

    grace_period_days: Days = 30
    lapse_transaction_type: Text = "lapse"
    events: tuple[DelinquencyEvent, ...] = ()

    @model_validator(mode="after")
    def _unique_event_names(self) -> Self:
        _reject_repeats(self, [event.name for event in self.events], "events", "name")
        return self


class TenantConfig(_Section):
    """A tenant's whole configuration."""

    timezone: str = "UTC"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    default_installment_plan: str = "fullPay"
    documents: DocumentsConfig = Field(default_factory=DocumentsConfig)
    installment_plans: Mapping[str, InstallmentPlan] = Field(
        default_factory=lambda: {"fullPay": InstallmentPlan(cadence=Cadence.FULL_PAY)}
    )
    invoicing: InvoicingConfig = Field(default_factory=InvoicingConfig)
    delinquency: DelinquencyConfig = Field(default_factory=DelinquencyConfig)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise PydanticCustomError(
                "timezone", "'{value}' is not a known IANA timezone", {"value": value}
            ) from None
        return value

    @model_validator(mode="after")
    def _default_plan_exists(self) -> Self:
        name = self.default_installment_plan
        if name not in self.installment_plans:
            known = ", ".join(sorted(self.installment_plans)) or "none"
            message = f"installmentPlans has no plan {name!r} (it has: {known})"
            _reject(self, [(("defaultInstallmentPlan",), message)])
        return self


class TenantConfigError(InvalidInput):
    """A tenant configuration that failed to load, with every problem and its field."""

    def __init__(self, errors: list[FieldProblem]) -> None:
        lines = [f"{e.field}: {e.message}" if e.field else e.message for e in errors]
        super().__init__("\n".join(lines), errors)


def _field_problem(error: ErrorDetails) -> FieldProblem:
    """The problem of one pydantic error, at its dotted path."""
    message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    return FieldProblem(field_path(error["loc"]), message)


def _yaml_message(error: yaml.YAMLError) -> str:
    """The YAML parser's complaint on one line, with its line and column."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"invalid YAML: {error}"
    mark, problem = error.problem_mark, ", ".join(filter(None, (error.context, error.problem)))
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def parse_tenant_config(data: object) -> TenantConfig:
    """Validate already-parsed configuration `data`, raising `TenantConfigError` on any problem."""
    try:
        return TenantConfig.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as error:
        raise TenantConfigError([_field_problem(item) for item in error.errors()]) from error


def load_tenant_config(text: str) -> TenantConfig:
    """Parse and validate a YAML configuration, where empty text means every default."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TenantConfigError([FieldProblem("", _yaml_message(error))]) from error
    return parse_tenant_config({} if data is None else data)


def dump_tenant_config(config: TenantConfig) -> dict[str, Any]:
    """The configuration as JSON-able data under its YAML keys, for storing in the database."""
    return config.model_dump(mode="json", by_alias=True)
