"""Reporting: tables (rich / markdown / csv / json), plots, accuracy reference data."""
