"""Users: a session token, rotated on logout, so that logout revokes old cookies.

Revision ID: 0003
Revises: 0002
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # NOT NULL with a default: plain ADD COLUMN, no table rebuild (SQLite would
    # have to drop "users", which the messages' foreign keys forbid).
    op.add_column(
        "users", sa.Column("session_token", sa.String(length=32), nullable=False, server_default="")
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(
            users.update().where(users.c.id == user_id).values(session_token=secrets.token_hex(16))
        )


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("session_token")
