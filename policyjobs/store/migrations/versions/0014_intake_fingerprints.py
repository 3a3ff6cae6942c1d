"""An event taken with an `eventId` keeps a fingerprint of its content, so that the same
id sent again with other content is refused rather than answered as a replay.

Receipts taken before this revision have none, and any content replays them, as before.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intake_events", sa.Column("fingerprint", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("intake_events") as table:
        table.drop_column("fingerprint")
