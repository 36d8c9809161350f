"""Iceberg tables for analytics-ready (``table_format: iceberg``, docs/iceberg.md)."""
