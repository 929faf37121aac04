"""The schema: numbered SQL migrations, applied in order by :mod:`orca.migrations`."""
