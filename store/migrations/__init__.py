"""Alembic migrations of the needcast schema."""
