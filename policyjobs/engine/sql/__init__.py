"""Named queries, one file per dialect, each query opened by a `-- name: x` line."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def queries(dialect: str) -> dict[str, str]:
    """The named queries of `dialect` ("postgresql" or "sqlite")."""
    text = files(__package__).joinpath(f"{dialect}.sql").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name:
                found[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.removeprefix("-- name:").strip(), []
        elif name and not line.startswith("--"):
            lines.append(line)
    if name:
        found[name] = "\n".join(lines).strip().rstrip(";")
    return found
