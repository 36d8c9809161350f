"""Gold models: Spark SQL over analytics-ready tables, built in dependency order into
``analytics-ready/{model}/`` and only as far as their inputs changed (docs/models.md)."""
