"""Messages: the client's id (cid) for exactly-once sends, and the queued flag.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN and CREATE INDEX: no table rebuild, so SQLite keeps AUTOINCREMENT.
    op.add_column("messages", sa.Column("cid", sa.String(length=64), nullable=True))
    op.add_column("messages", sa.Column("queued", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("uq_messages_sender_cid", "messages", ["sender_id", "cid"], unique=True)


def downgrade():
    op.drop_index("uq_messages_sender_cid", table_name="messages")
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("queued")
        batch_op.drop_column("cid")
