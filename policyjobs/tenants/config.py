"""A tenant's YAML configuration: the core keys, and one section per domain, composed.

Each domain owns the top-level keys it reads, as a `ConfigSection` model (documents owns
`documents`, installments owns `defaultInstallmentPlan` and `installmentPlans`, …). A
`TenantConfigSchema` composes the sections of the running domains into one model, so a
whole YAML file is validated at once and every error names its field. A stored
configuration is read back one section at a time, by the domain that owns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from policyjobs.engine.calendar import known_timezone
from policyjobs.engine.jobs import Lane
from policyjobs.exceptions import FieldProblem, InvalidInput, field_path

Identifier = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
Text = Annotated[str, Field(min_length=1)]
Days = Annotated[int, Field(strict=True, ge=0)]
Weight = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


def reject(model: BaseModel, problems: Sequence[tuple[Sequence[str | int], str]]) -> None:
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


def reject_repeats(model: BaseModel, names: list[str], list_key: str, name_key: str) -> None:
    """Reject each entry of a list whose name an earlier entry already used."""
    first = {name: index for index, name in reversed(list(enumerate(names)))}
    message = "{} {!r} is already used by {}[{}]"
    problems = [
        ((list_key, index, name_key), message.format(name_key, name, list_key, first[name]))
        for index, name in enumerate(names)
        if first[name] != index
    ]
    reject(model, problems)


class ConfigModel(BaseModel):
    """A part of the configuration read by its camelCase keys, where an unknown key is an error."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, validate_by_name=True
    )


Section = TypeVar("Section", bound="ConfigSection")


class ConfigSection(ConfigModel):
    """The top-level keys one domain owns; every key has a default."""

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Self:
        """This section of a stored configuration, which was validated when it was stored."""
        keys = {field.alias or name for name, field in cls.model_fields.items()}
        return cls.model_validate({k: v for k, v in stored.items() if k in keys},
                                  by_alias=True, by_name=False)


class CoreConfig(ConfigSection):
    """What every domain may read: the tenant's timezone and currency."""

    timezone: str = "UTC"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if not known_timezone(value):
            raise PydanticCustomError(
                "timezone", "'{value}' is not a known IANA timezone", {"value": value})
        return value


LaneName = Literal["interactive", "standard", "batch"]


class ClaimsConfig(ConfigSection):
    """How the tenant's jobs are claimed (see `policyjobs.engine.fairness`): the most it may
    run at once across every worker, and the lane of its jobs of some kinds, by kind."""

    max_running_jobs: Annotated[int, Field(strict=True, ge=1)] | None = None
    job_lanes: dict[str, LaneName] = {}

    @property
    def lanes(self) -> dict[str, Lane]:
        """The lanes set, by kind."""
        return {kind: Lane.named(name) for kind, name in self.job_lanes.items()}


class TenantConfig(CoreConfig):
    """A whole configuration: the core keys and, in a composed model, every domain's section."""

    def section(self, kind: type[Section]) -> Section:
        """The section `kind` of this configuration."""
        if not isinstance(self, kind):
            raise TypeError(f"this configuration has no {kind.__name__}: is its domain running?")
        return self


class Sections(Protocol):
    """A configuration read one section at a time: a `TenantConfig` or a `StoredConfig`."""

    def section(self, kind: type[Section]) -> Section: ...


class StoredConfig:
    """A stored configuration, each section parsed when first asked for."""

    def __init__(self, stored: Mapping[str, Any]) -> None:
        self.stored = stored
        self._sections: dict[type[ConfigSection], ConfigSection] = {}

    def section(self, kind: type[Section]) -> Section:
        """The section `kind` of this configuration."""
        found = self._sections.get(kind)
        if found is None:
            found = self._sections[kind] = kind.from_stored(self.stored)
        assert isinstance(found, kind)
        return found


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


class TenantConfigSchema:
    """The configuration of a set of domains: the core keys, how the tenant's jobs are
    claimed, and each domain's section; `kinds` are the job kinds whose lanes it may set."""

    def __init__(self, sections: Sequence[type[ConfigSection]] = (),
                 kinds: Sequence[str] = ()) -> None:
        bases: tuple[type[TenantConfig], ...] = tuple(  # each section becomes a base of the model
            dict.fromkeys((TenantConfig, ClaimsConfig, *sections)))  # type: ignore[arg-type]
        self.model: type[TenantConfig] = create_model("TenantConfig", __base__=bases)
        self.kinds = tuple(kinds)

    def parse(self, data: object) -> TenantConfig:
        """Validate already-parsed `data`, raising `TenantConfigError` on any problem."""
        try:
            config = self.model.model_validate(data, by_alias=True, by_name=False)
        except ValidationError as error:
            raise TenantConfigError([_field_problem(item) for item in error.errors()]) from error
        known = ", ".join(sorted(self.kinds))
        if unknown := [FieldProblem(field_path(("jobLanes", kind)),
                                    f"no job kind is called {kind!r}; the kinds are {known}")
                       for kind in config.section(ClaimsConfig).job_lanes
                       if kind not in self.kinds]:
            raise TenantConfigError(unknown)
        return config

    def load(self, text: str) -> TenantConfig:
        """Parse and validate a YAML configuration, where empty text means every default."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TenantConfigError([FieldProblem("", _yaml_message(error))]) from error
        return self.parse({} if data is None else data)


def dump_tenant_config(config: TenantConfig) -> dict[str, Any]:
    """The configuration as JSON-able data under its YAML keys, for storing in the database."""
    return config.model_dump(mode="json", by_alias=True)
