"""Alembic's entry point: the revisions run on the connection `migrate` (or a test) hands over,
as `store.migrate.run_revisions` says."""

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

from policyjobs.store.migrate import run_revisions

run_revisions(cast(EnvironmentContext, context))  # the module stands for the running context
