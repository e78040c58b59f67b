"""The state store: SQLAlchemy Core tables, Alembic migrations, and the engine's queries."""
