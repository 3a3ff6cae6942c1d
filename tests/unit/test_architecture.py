"""The direction of dependency inside `policyjobs`, read from every module's imports.

- The engine imports nothing of the package outside itself but `policyjobs.exceptions`, the
  root of every exception of the service; and nothing outside the engine imports its tables
  (`engine.schema`: the store's shared metadata and its migrations aside) or its backends:
  others read jobs through the engine's read model (`engine.view`, `engine.listing`).
- A domain (a package with a `domain.py`) keeps HTTP at its edge: only its `endpoints`
  and `schemas` import `policyjobs.api`.
- A domain uses another only through its public modules, never its `handler`, `queries`,
  `models`, `endpoints` or `domain`; and of those only the vocabulary they share (its
  `events` and `config`): what it needs of another domain's code comes through its `ports`,
  which the composition root wires.
- `policyjobs.api` imports no domain; only the entry points (`cli`, `demo`) import the
  composition root, `policyjobs.app`.
- The top-level modules and packages form no cycle, and neither do the engine's modules.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Mapping, Set
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "policyjobs"
HTTP_EDGE = frozenset({"endpoints", "schemas"})
PRIVATE = frozenset({"handler", "queries", "models", "endpoints", "domain"})
VOCABULARY = frozenset({"events", "config"})
ENTRY_POINTS = ("policyjobs.cli", "policyjobs.demo")
ROOT = "policyjobs.app"
EXCEPTIONS = "policyjobs.exceptions"
ENGINE_INSIDES = frozenset({"schema", "backend", "backends", "postgres", "sqlite", "sql"})
SHARED_METADATA = ("policyjobs.store.schema", "policyjobs.store.migrations")

Imports = Mapping[str, Set[str]]


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """`policyjobs.documents.service` for `policyjobs/documents/service.py`."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module of the package that `path` imports, wherever in it the import stands
    (type-checking blocks and function bodies included); `from a import b` counts `a.b`."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module.split(".")[0] == "policyjobs"}


def package_imports() -> dict[str, set[str]]:
    """The imports of every module of the package, by module name."""
    return {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def top(module: str) -> str:
    """The top-level module or package of `module`: `policyjobs.documents` for its service."""
    return ".".join(module.split(".")[:2])


def within(module: str, package: str) -> bool:
    """Whether `module` is `package` or inside it."""
    return module == package or module.startswith(package + ".")


def violations(imports: Imports, domains: Set[str]) -> list[str]:
    """Every import that breaks one of the rules, as `importer -> imported: rule`."""
    known = set(imports)
    found: list[str] = []
    for module, imported in sorted(imports.items()):
        for target in sorted(imported):
            if target not in known and target.rpartition(".")[0] in known:
                continue  # `from package.module import name`: the module itself is counted
            found.extend(f"{module} -> {target}: {rule}"
                         for rule in _broken(module, target, domains))
    graph: dict[str, set[str]] = {}
    for module, imported in imports.items():
        graph.setdefault(top(module), set()).update(
            top(t) for t in imported if top(t) != top(module))
    found.extend(f"top-level cycle: {cycle}" for cycle in _cycle(graph))
    engine = {module: {t for t in imported if t in known and within(t, "policyjobs.engine")
                       and t not in ("policyjobs.engine", module)}
              for module, imported in imports.items()
              if within(module, "policyjobs.engine") and module != "policyjobs.engine"}
    found.extend(f"engine cycle: {cycle}" for cycle in _cycle(engine))
    return found


def _cycle(graph: Mapping[str, Set[str]]) -> list[str]:
    """A cycle of `graph`, as `a -> b -> a`, if it has one."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        return [" -> ".join(cycle.args[1])]
    return []


def _broken(module: str, target: str, domains: Set[str]) -> list[str]:
    rules = []
    if within(module, "policyjobs.engine") and not (
            within(target, "policyjobs.engine") or within(target, EXCEPTIONS)):
        rules.append("the engine imports only itself and the exceptions")
    inside = target.removeprefix("policyjobs.engine.").split(".")[0]
    if (within(target, "policyjobs.engine") and not within(module, "policyjobs.engine")
            and inside in ENGINE_INSIDES and target != "policyjobs.engine"
            and not (inside == "schema" and any(within(module, m) for m in SHARED_METADATA))):
        rules.append("only the engine reads its tables and backends")
    home = next((d for d in domains if within(module, d)), None)
    if home and within(target, "policyjobs.api") and module.split(".")[-1] not in HTTP_EDGE:
        rules.append("only a domain's endpoints and schemas import policyjobs.api")
    other = next((d for d in domains if within(target, d) and d != home), None)
    part = target.removeprefix(other + ".").split(".")[0] if other else ""
    if home and other and part in PRIVATE:
        rules.append(f"{home} reaches into {other}'s private modules")
    elif home and other and target != other and part not in VOCABULARY:
        rules.append(f"{home} uses {other}'s code, not through its ports")
    if within(module, "policyjobs.api") and (other or target == ROOT):
        rules.append("policyjobs.api imports no domain and not the composition root")
    if target == ROOT and not any(within(module, entry) for entry in ENTRY_POINTS):
        rules.append("only the entry points import the composition root")
    return rules


def product_domains() -> set[str]:
    """The packages that are domains: those with a `domain.py`."""
    return {module_name(path.parent / "__init__.py") for path in PACKAGE.glob("*/domain.py")}


def test_the_package_keeps_its_direction_of_dependency() -> None:
    assert {"policyjobs.documents", "policyjobs.installments", "policyjobs.intake"} <= \
        product_domains()

    assert violations(package_imports(), product_domains()) == []


def test_each_rule_finds_what_breaks_it() -> None:
    domains = {"policyjobs.documents", "policyjobs.installments"}
    imports = {
        "policyjobs.engine.worker": {"policyjobs.settings"},
        "policyjobs.settings": set(),
        "policyjobs.documents.service": {"policyjobs.api.conventions",
                                         "policyjobs.installments.service"},
        "policyjobs.documents.handler": {"policyjobs.installments.models"},
        "policyjobs.documents.endpoints": {"policyjobs.api.conventions"},
        "policyjobs.installments.service": set(),
        "policyjobs.installments.models": set(),
        "policyjobs.api.conventions": set(),
        "policyjobs.api.state": {"policyjobs.documents.service", "policyjobs.app"},
        "policyjobs.app": set(),
        "policyjobs.cli": {"policyjobs.app"},
    }

    *broken, cycle = violations(imports, domains)

    assert broken == [
        "policyjobs.api.state -> policyjobs.app: "
        "policyjobs.api imports no domain and not the composition root",
        "policyjobs.api.state -> policyjobs.app: "
        "only the entry points import the composition root",
        "policyjobs.api.state -> policyjobs.documents.service: "
        "policyjobs.api imports no domain and not the composition root",
        "policyjobs.documents.handler -> policyjobs.installments.models: "
        "policyjobs.documents reaches into policyjobs.installments's private modules",
        "policyjobs.documents.service -> policyjobs.api.conventions: "
        "only a domain's endpoints and schemas import policyjobs.api",
        "policyjobs.documents.service -> policyjobs.installments.service: "
        "policyjobs.documents uses policyjobs.installments's code, not through its ports",
        "policyjobs.engine.worker -> policyjobs.settings: "
        "the engine imports only itself and the exceptions",
    ]
    assert cycle.startswith("top-level cycle: ")
    assert set(cycle.removeprefix("top-level cycle: ").split(" -> ")) == {
        "policyjobs.api", "policyjobs.documents"}


def test_a_domain_calling_anothers_service_is_found() -> None:
    domains = {"policyjobs.invoicing", "policyjobs.documents", "policyjobs.intake"}
    imports = {"policyjobs.invoicing.invoices": {"policyjobs.documents.service",
                                                 "policyjobs.documents.config",
                                                 "policyjobs.intake.events",
                                                 "policyjobs.intake"},
               "policyjobs.documents.service": set(), "policyjobs.documents.config": set(),
               "policyjobs.intake.events": set(), "policyjobs.intake": set()}

    assert violations(imports, domains) == [
        "policyjobs.invoicing.invoices -> policyjobs.documents.service: "
        "policyjobs.invoicing uses policyjobs.documents's code, not through its ports"]


def test_reaching_into_the_engines_tables_is_found() -> None:
    imports = {"policyjobs.documents.queries": {"policyjobs.engine.schema",
                                                "policyjobs.engine.view"},
               "policyjobs.store.schema": {"policyjobs.engine.schema"},
               "policyjobs.store.migrations.versions.0001": {"policyjobs.engine.schema"},
               "policyjobs.engine.schema": set(), "policyjobs.engine.view": set()}

    assert violations(imports, {"policyjobs.documents"}) == [
        "policyjobs.documents.queries -> policyjobs.engine.schema: "
        "only the engine reads its tables and backends"]


def test_a_cycle_among_the_engines_modules_is_found() -> None:
    imports = {"policyjobs.engine": {"policyjobs.engine.queue"},
               "policyjobs.engine.queue": {"policyjobs.engine.registry"},
               "policyjobs.engine.registry": {"policyjobs.engine.context"},
               "policyjobs.engine.context": {"policyjobs.engine.queue"}}

    [cycle] = violations(imports, set())

    assert cycle.startswith("engine cycle: ")
    assert set(cycle.removeprefix("engine cycle: ").split(" -> ")) == {
        "policyjobs.engine.queue", "policyjobs.engine.registry", "policyjobs.engine.context"}


def test_imports_are_read_wherever_they_stand(tmp_path: Path) -> None:
    module = tmp_path / "policyjobs" / "example.py"
    module.parent.mkdir()
    module.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from policyjobs.runtime import Runtime\n"
                      "def later():\n    import policyjobs.app\n"
                      "from policyjobs.documents import queries\n")

    found = imports_of(module, root=tmp_path / "policyjobs")

    assert found == {"policyjobs.runtime", "policyjobs.runtime.Runtime", "policyjobs.app",
                     "policyjobs.documents", "policyjobs.documents.queries"}
