"""Tests of loading, validating and dumping a tenant's YAML configuration."""

from decimal import Decimal
from pathlib import Path

import pytest

from policyjobs.app import product_tenant_configs
from policyjobs.delinquency.config import DelinquencySection, OffsetBasis
from policyjobs.documents.config import DocumentFormat, DocumentScope, DocumentsSection
from policyjobs.engine import Lane
from policyjobs.exceptions import FieldProblem
from policyjobs.installments.config import InstallmentsSection
from policyjobs.installments.lattice import AnchorMode, Cadence
from policyjobs.intake.events import Trigger
from policyjobs.invoicing.config import InvoicingSection
from policyjobs.tenants.config import (
    ClaimsConfig,
    CoreConfig,
    StoredConfig,
    TenantConfig,
    TenantConfigError,
    TenantConfigSchema,
    dump_tenant_config,
)

SCHEMA = product_tenant_configs()


def load_tenant_config(text: str) -> TenantConfig:
    """The product's configuration from YAML `text`."""
    return SCHEMA.load(text)

EXAMPLE = Path(__file__).parents[2] / "examples" / "tenant.yaml"

DEFINITION = "{staticName: quoteSummary, name: Quote, trigger: priced, scope: quote, template: x}"


def errors_of(text: str) -> list[FieldProblem]:
    """The field errors that loading `text` raises."""
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_config(text)
    return caught.value.errors


def fields_of(text: str) -> list[str]:
    """The fields named by the errors that loading `text` raises."""
    return [error.field for error in errors_of(text)]


def test_example_loads() -> None:
    config = load_tenant_config(EXAMPLE.read_text())
    installments = config.section(InstallmentsSection)

    assert config.timezone == "America/New_York"
    assert installments.default_installment_plan == "monthly"
    definitions = {
        definition.static_name: definition
        for definition in config.section(DocumentsSection).documents.definitions
    }
    assert set(definitions) == {
        "quoteSummary",
        "policyDeclarations",
        "segmentSchedule",
        "invoiceNotice",
    }
    assert definitions["quoteSummary"].scope is DocumentScope.QUOTE
    assert definitions["quoteSummary"].trigger is Trigger.PRICED
    assert definitions["segmentSchedule"].format is DocumentFormat.HTML
    assert definitions["invoiceNotice"].trigger is Trigger.GENERATED
    assert set(installments.installment_plans) == {"monthly", "quarterly", "fullPay"}
    assert installments.installment_plans["quarterly"].installment_weights == (
        Decimal("0.4"),
        Decimal("0.2"),
        Decimal("0.2"),
        Decimal("0.2"),
    )
    assert config.section(InvoicingSection).invoicing.generate_time_of_day == "02:00"
    delinquency = config.section(DelinquencySection).delinquency
    assert [
        (event.name, event.offset_basis, event.offset_days) for event in delinquency.events
    ] == [
        ("reminder", OffsetBasis.GRACE_PERIOD_START, 5),
        ("finalNotice", OffsetBasis.GRACE_PERIOD_END, -7),
    ]


def test_example_round_trips_through_its_dump() -> None:
    config = load_tenant_config(EXAMPLE.read_text())

    dumped = dump_tenant_config(config)

    assert dumped["installmentPlans"]["quarterly"]["installmentWeights"][0] == "0.4"
    assert dumped["documents"]["definitions"][0]["staticName"] == "quoteSummary"
    assert SCHEMA.parse(dumped) == config


def test_a_stored_configuration_reads_back_section_by_section() -> None:
    config = load_tenant_config(EXAMPLE.read_text())

    stored = StoredConfig(dump_tenant_config(config))

    for section in (CoreConfig, DocumentsSection, InstallmentsSection, InvoicingSection,
                    DelinquencySection):
        assert stored.section(section) == section.model_validate(
            config.model_dump(include=set(section.model_fields)))
    assert stored.section(DocumentsSection) is stored.section(DocumentsSection)


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_text_gives_defaults(text: str) -> None:
    config = load_tenant_config(text)
    documents = config.section(DocumentsSection).documents
    delinquency = config.section(DelinquencySection).delinquency

    assert config == SCHEMA.model()
    assert config.timezone == "UTC"
    assert config.currency == "USD"
    assert config.section(InstallmentsSection).default_installment_plan == "fullPay"
    assert documents.timeout_seconds == 120
    assert documents.definitions == ()
    assert config.section(InvoicingSection).invoicing.generate_time_of_day == "02:00"
    assert delinquency.grace_period_days == 30
    assert delinquency.lapse_transaction_type == "lapse"
    assert delinquency.events == ()


def test_default_plan_is_an_unbounded_full_pay_plan() -> None:
    plan = load_tenant_config("").section(InstallmentsSection).installment_plans["fullPay"]

    assert plan.cadence is Cadence.FULL_PAY
    assert plan.max_installments_per_term is None
    assert plan.installment_weights is None
    assert (plan.generate_lead_days, plan.due_lead_days) == (0, 0)
    assert plan.anchor_mode is AnchorMode.TERM_START_DAY


def test_definition_format_defaults_to_pdf() -> None:
    config = load_tenant_config(f"documents: {{definitions: [{DEFINITION}]}}")

    assert config.section(DocumentsSection).documents.definitions[0].format is DocumentFormat.PDF


def test_unknown_key_names_its_field() -> None:
    errors = errors_of("timezone: UTC\ndelinquency: {graceDays: 3}\n")

    assert errors == [FieldProblem("delinquency.graceDays", "unknown key")]


def test_python_names_are_not_yaml_keys() -> None:
    assert fields_of("delinquency: {grace_period_days: 3}\n") == ["delinquency.grace_period_days"]


def test_bad_timezone_names_its_field() -> None:
    errors = errors_of("timezone: Mars/Olympus\n")

    assert [error.field for error in errors] == ["timezone"]
    assert "Mars/Olympus" in errors[0].message


def test_bad_trigger_names_its_field() -> None:
    text = "documents:\n  definitions:\n    - " + DEFINITION.replace("priced", "paid")

    assert fields_of(text) == ["documents.definitions[0].trigger"]


def test_duplicate_static_name_names_the_repeat() -> None:
    text = f"documents:\n  definitions:\n    - {DEFINITION}\n    - {DEFINITION}\n"

    errors = errors_of(text)

    assert [error.field for error in errors] == ["documents.definitions[1].staticName"]
    assert "quoteSummary" in errors[0].message


def test_default_plan_must_name_a_plan() -> None:
    text = "defaultInstallmentPlan: monthly\ninstallmentPlans: {fullPay: {cadence: fullPay}}\n"

    assert fields_of(text) == ["defaultInstallmentPlan"]


def test_default_plan_is_checked_when_left_to_its_default() -> None:
    assert fields_of("installmentPlans: {monthly: {cadence: monthly}}\n") == [
        "defaultInstallmentPlan"
    ]


@pytest.mark.parametrize("time", ['"24:00"', '"7:00"', '"02:60"', "2:30", '"noon"'])
def test_bad_time_of_day_names_its_field(time: str) -> None:
    assert fields_of(f"invoicing: {{generateTimeOfDay: {time}}}\n") == [
        "invoicing.generateTimeOfDay"
    ]


def test_yaml_syntax_error_names_its_line() -> None:
    errors = errors_of("timezone: UTC\ndocuments: [1\ncurrency: USD\n")

    assert len(errors) == 1
    assert errors[0].field == ""
    assert "line 3" in errors[0].message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("currency: usd", "currency"),
        ("documents: {timeoutSeconds: 0}", "documents.timeoutSeconds"),
        ("delinquency: {gracePeriodDays: -1}", "delinquency.gracePeriodDays"),
        ("installmentPlans: {fullPay: {cadence: daily}}", "installmentPlans.fullPay.cadence"),
        (
            "installmentPlans: {fullPay: {cadence: fullPay, installmentWeights: [0.5, 0.5]}}",
            "installmentPlans.fullPay.installmentWeights",
        ),
        (
            "installmentPlans: {fullPay: {cadence: fullPay, installmentWeights: []}}",
            "installmentPlans.fullPay.installmentWeights",
        ),
        (
            "installmentPlans: {fullPay: {cadence: fullPay, installmentWeights: [0]}}",
            "installmentPlans.fullPay.installmentWeights[0]",
        ),
        (
            "installmentPlans:\n  fullPay: {cadence: monthly, maxInstallmentsPerTerm: 2,"
            " installmentWeights: [1, 1, 1]}",
            "installmentPlans.fullPay.installmentWeights",
        ),
        (
            "delinquency: {events: [{name: a, offsetBasis: gracePeriodEnd, offsetDays: 1},"
            " {name: a, offsetBasis: gracePeriodEnd, offsetDays: 2}]}",
            "delinquency.events[1].name",
        ),
        (
            "delinquency: {events: [{name: a, offsetBasis: dueTime, offsetDays: 1}]}",
            "delinquency.events[0].offsetBasis",
        ),
    ],
)
def test_other_problems_name_their_field(text: str, field: str) -> None:
    assert fields_of(text) == [field]


def test_a_cap_and_lanes_are_read_by_kind() -> None:
    claims = load_tenant_config("maxRunningJobs: 4\njobLanes: {documents: batch, "
                                "invoicing.instance: interactive}\n").section(ClaimsConfig)
    assert claims.max_running_jobs == 4
    assert claims.lanes == {"documents": Lane.BATCH, "invoicing.instance": Lane.INTERACTIVE}
    defaults = load_tenant_config("").section(ClaimsConfig)
    assert (defaults.max_running_jobs, defaults.lanes) == (None, {})


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("maxRunningJobs: 0", "maxRunningJobs", "greater than or equal to 1"),
        ("maxRunningJobs: '3'", "maxRunningJobs", "valid integer"),
        ("maxRunningJobs: 2.5", "maxRunningJobs", "valid integer"),
        ("maxRunningJobs: true", "maxRunningJobs", "valid integer"),
        ("jobLanes: {documents: urgent}", "jobLanes.documents",
         "'interactive', 'standard' or 'batch'"),
        ("jobLanes: {documentz: batch}", "jobLanes.documentz",
         "no job kind is called 'documentz'; the kinds are delinquency.create"),
        ("jobLanes: [documents]", "jobLanes", "valid dictionary"),
    ],
)
def test_a_bad_cap_or_lane_names_its_field_and_why(text: str, field: str, reason: str) -> None:
    [problem] = errors_of(text)
    assert problem.field == field
    assert reason in problem.message


def test_every_problem_is_reported_and_listed() -> None:
    text = "timezone: Nowhere\ncurrency: dollars\nextra: 1\n"

    with pytest.raises(TenantConfigError) as caught:
        load_tenant_config(text)

    assert {error.field for error in caught.value.errors} == {"timezone", "currency", "extra"}
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert "extra: unknown key" in lines


def test_a_document_that_is_not_a_mapping_is_rejected() -> None:
    assert fields_of("- timezone: UTC\n") == [""]


def test_parse_rejects_what_is_not_a_mapping() -> None:
    with pytest.raises(TenantConfigError):
        SCHEMA.parse(None)


def test_a_configuration_of_fewer_domains_knows_only_their_keys() -> None:
    core_only = TenantConfigSchema()

    with pytest.raises(TenantConfigError) as caught:
        core_only.load("documents: {timeoutSeconds: 5}\n")

    assert caught.value.errors == [FieldProblem("documents", "unknown key")]
    with pytest.raises(TypeError, match="DocumentsSection"):
        core_only.load("").section(DocumentsSection)
