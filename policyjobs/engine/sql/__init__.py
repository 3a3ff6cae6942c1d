"""Named queries, one file per dialect, each query opened by a `-- name: x` line.

A `-- fragment: x` line opens a piece of SQL that several queries share, written `@x` where
a query uses it (the skip through the tenants with queued jobs, say).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_USE = re.compile(r"@(\w+)")


@cache
def queries(dialect: str) -> dict[str, str]:
    """The named queries of `dialect` ("postgresql" or "sqlite"), fragments put in."""
    text = files(__package__).joinpath(f"{dialect}.sql").read_text(encoding="utf-8")
    found: dict[str, dict[str, str]] = {"name": {}, "fragment": {}}
    opened: tuple[str, str] | None = None
    lines: list[str] = []
    for line in [*text.splitlines(), "-- name: "]:  # the last opening closes the last query
        if match := re.match(r"-- (name|fragment): *(.*)", line):
            if opened and opened[1]:
                found[opened[0]][opened[1]] = "\n".join(lines).strip().rstrip(";")
            opened, lines = (match[1], match[2].strip()), []
        elif opened and not line.startswith("--"):
            lines.append(line)
    fragments = found["fragment"]
    return {name: _USE.sub(lambda use: fragments[use[1]], query)
            for name, query in found["name"].items()}
