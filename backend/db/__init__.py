"""Relational storage: models, engine construction, migrations."""
