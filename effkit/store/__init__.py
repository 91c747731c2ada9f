"""The results store: measurements and calibrations in one SQLite file, and where results are read from.

``db.py`` is the database (:class:`Store`: one row per measured configuration, committed as made);
``calibrations.py`` keeps fitted calibrations in a table beside the results; ``sources.py`` decides where
measurements are read from (:func:`read_results`: a database, a CSV of its rows, or a shipped file).
"""

from effkit.store.calibrations import list_calibrations, load_calibration, save_calibration
from effkit.store.db import (INDEXED, SCHEMA_VERSION, Store, check_store_path, default_db_path, input_shape_of,
                             json_safe, load_results, read_results_csv, upgrade_row)
from effkit.store.sources import read_results

__all__ = [
    "INDEXED", "SCHEMA_VERSION", "Store", "check_store_path", "default_db_path", "input_shape_of", "json_safe",
    "list_calibrations", "load_calibration", "load_results", "read_results", "read_results_csv", "save_calibration",
    "upgrade_row",
]
