"""Alembic environment for Flask-Migrate.

Unlike the generated template, this does not call ``logging.config.fileConfig``:
migrations run at application start-up, inside gunicorn, and must not replace
the server's logging set-up. SQLite gets batch mode so that ALTER TABLE works.
"""

from alembic import context
from flask import current_app

config = context.config
db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def run_migrations_offline():
    """Write SQL to stdout (``flask db upgrade --sql``)."""
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Apply migrations over the app's own engine."""
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
