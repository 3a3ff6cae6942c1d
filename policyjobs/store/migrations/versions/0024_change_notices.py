"""PostgreSQL notifies `policyjobs_changes` with a table's name as a change to the tenants
or to the webhook endpoints commits, so that each process can keep those rows in memory
(`policyjobs.store.kept`) instead of reading them for nearly every job.

The triggers run once a statement, for statements that can change what is kept: any
insert or delete of an endpoint, an update that sets its tenant, whether it is enabled or
the events it wants (not a delivery's bookkeeping of its failures), and any change to a
tenant. NOTIFY sends nothing until the transaction commits, and one notice for many
identical ones in a transaction. SQLite keeps nothing, so has no triggers.

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION policyjobs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('policyjobs_changes', TG_TABLE_NAME);
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
        FOR EACH STATEMENT EXECUTE FUNCTION policyjobs_changed()""")
    op.execute("""
        CREATE TRIGGER webhook_endpoints_changed
        AFTER INSERT OR DELETE OR UPDATE OF tenant, enabled, event_types ON webhook_endpoints
        FOR EACH STATEMENT EXECUTE FUNCTION policyjobs_changed()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER webhook_endpoints_changed ON webhook_endpoints")
    op.execute("DROP TRIGGER tenants_changed ON tenants")
    op.execute("DROP FUNCTION policyjobs_changed()")
