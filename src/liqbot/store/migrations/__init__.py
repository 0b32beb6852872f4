"""Alembic environment and revisions for the store; shipped in the package so any install can migrate."""
