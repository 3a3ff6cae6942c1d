"""Jobs in a rare status (waiting, failed, cancelled) are listed in `job_marks`, so the
operators' views find a tenant's failed or waiting jobs without reading its whole history.

`jobs` has no index on its status, so that a job's updates stay HOT (see 0011); the
queue's own statuses live on `job_queue`. Triggers keep `job_marks` in step with every
write to a job's status, whichever statement makes it; existing jobs are copied in.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MARKED = "('waiting', 'failed', 'cancelled')"

_POSTGRESQL = [
    f"""
    CREATE FUNCTION job_marks_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM job_marks WHERE id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.status IN {MARKED} THEN
            INSERT INTO job_marks (id, tenant, locator, status)
            VALUES (NEW.id, NEW.tenant, NEW.locator, NEW.status);
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE TRIGGER job_marks_made AFTER INSERT ON jobs FOR EACH ROW
    WHEN (NEW.status IN {MARKED}) EXECUTE FUNCTION job_marks_follow()
    """,
    f"""
    CREATE TRIGGER job_marks_moved AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status
          AND (NEW.status IN {MARKED} OR OLD.status IN {MARKED}))
    EXECUTE FUNCTION job_marks_follow()
    """,
    f"""
    CREATE TRIGGER job_marks_gone AFTER DELETE ON jobs FOR EACH ROW
    WHEN (OLD.status IN {MARKED}) EXECUTE FUNCTION job_marks_follow()
    """,
]

_SQLITE = [
    f"""
    CREATE TRIGGER job_marks_made AFTER INSERT ON jobs WHEN NEW.status IN {MARKED}
    BEGIN
        INSERT INTO job_marks (id, tenant, locator, status)
        VALUES (NEW.id, NEW.tenant, NEW.locator, NEW.status);
    END
    """,
    f"""
    CREATE TRIGGER job_marks_moved AFTER UPDATE OF status ON jobs
    WHEN NEW.status IS NOT OLD.status AND (NEW.status IN {MARKED} OR OLD.status IN {MARKED})
    BEGIN
        DELETE FROM job_marks WHERE id = OLD.id;
        INSERT INTO job_marks (id, tenant, locator, status)
        SELECT NEW.id, NEW.tenant, NEW.locator, NEW.status WHERE NEW.status IN {MARKED};
    END
    """,
    f"""
    CREATE TRIGGER job_marks_gone AFTER DELETE ON jobs WHEN OLD.status IN {MARKED}
    BEGIN
        DELETE FROM job_marks WHERE id = OLD.id;
    END
    """,
]


def upgrade() -> None:
    op.create_table(
        "job_marks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("locator", sa.String(26), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("job_marks_status", "job_marks", ["tenant", "status", "locator"])
    op.execute(f"INSERT INTO job_marks (id, tenant, locator, status) "
               f"SELECT id, tenant, locator, status FROM jobs WHERE status IN {MARKED}")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("job_marks_made", "job_marks_moved", "job_marks_gone"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {trigger} ON jobs")
        else:
            op.execute(f"DROP TRIGGER {trigger}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION job_marks_follow()")
    op.drop_table("job_marks")
