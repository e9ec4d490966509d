"""Persistence: SQLAlchemy 2 (async) on SQLite or PostgreSQL, schema managed by Alembic."""
