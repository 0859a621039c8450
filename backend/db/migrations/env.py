"""Alembic environment: uses the engine handed over by backend.db.migrate (or KBCHAT settings)."""

from alembic import context

from backend.db.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` CLI use: build the engine from the environment
    from backend.db.engine import make_engine
    from backend.settings import Settings

    engine = make_engine(Settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds for ALTER
    )
    with context.begin_transaction():
        context.run_migrations()
