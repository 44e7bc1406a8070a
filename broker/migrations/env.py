"""Alembic environment: the models' metadata, the URL from the caller's config."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, event, pool

from foundations.database import set_page_size
from foundations.models import metadata

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    if connectable.dialect.name == "sqlite":  # the migrations make a new database's file

        @event.listens_for(connectable, "connect")
        def _new_file(dbapi_connection: Any, _record: Any) -> None:
            set_page_size(dbapi_connection)

    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
