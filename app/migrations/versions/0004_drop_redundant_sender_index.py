"""Messages: drop the index on sender_id alone; the unique (sender_id, cid) index serves it.

Every stored message wrote one more index page than it needed: about a fifth
of the pages each single-message commit writes to SQLite's log. Lookups by
sender use the leading column of ``uq_messages_sender_cid`` instead, in
SQLite and PostgreSQL alike.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_messages_sender_id", table_name="messages")


def downgrade():
    op.create_index("ix_messages_sender_id", "messages", ["sender_id"], unique=False)
