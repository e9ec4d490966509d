"""Station files: the SQL records (repositories.py) and the local-folder byte store (local.py)."""
