"""Where measurements are read from: a results database, a CSV of its rows, or a file shipped with effkit.

:func:`read_results` is the one place that decides; the charts, the report and the predictions read through it.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from effkit.errors import BadInputError, setting
from effkit.store.db import Store, default_db_path, load_results, read_results_csv

Source = Union[str, os.PathLike]


def read_results(*, db: Optional[Source] = None, csv: Optional[Source] = None,
                 shipped: Union[bool, str, None] = None, required: bool = True,
                 shipped_if_empty: bool = False, default_if_it_holds: Optional[str] = None) -> Any:
    """Measurements from exactly one source, as a DataFrame with the results store's columns.

    Args:
        db: a results database.
        csv: a CSV of results-store rows (``effkit results export``).
        shipped: a file shipped with effkit: ``True`` / ``"auto"`` for the default one (the newest GPU file,
            else the CPU one), or what :func:`effkit.shipped.choose_shipped` takes (a name, ``"cpu"``, ``"gpu"``).
        required: with no source given, read the default store and refuse it empty; ``False``: return ``None``
            instead of reading anything, and accept a CSV without rows.
        shipped_if_empty: with no source given and a default store that is missing or empty, read the
            default shipped file (when effkit ships any), saying so in ``df.attrs["notes"]``.
        default_if_it_holds: with no source given and not ``required``, the default store's rows when it
            holds this model, else ``None`` (a missing, empty or unreadable default store too): measurements
            that add to a figure drawn without them.

    Returns:
        The rows (``None`` only when nothing is given and not ``required``). Rows from a shipped file carry
        ``df.attrs["shipped"]``, the :class:`~effkit.shipped.ShippedFile` they came from; rows of a CSV or a
        database ``df.attrs["source"]`` (``"CSV results.csv"``, ``"results database results.db"``).

    Raises:
        BadInputError: two sources at once, an unreadable CSV, a store without measurements.
        StoreError: the database is missing or not an effkit store.
    """
    if shipped is not None and shipped is not False:
        if csv is not None or db is not None:
            raise BadInputError(f"{setting('shipped')}/{setting('from_shipped')} read effkit's shipped "
                                f"measurements; give them or {setting('csv')}/{setting('db')}, not both",
                                field="shipped")
        from effkit.shipped import load_shipped

        return load_shipped("auto" if shipped is True else shipped)
    if shipped_if_empty and csv is None and db is None and _default_store_is_empty():
        from effkit.shipped import load_shipped, shipped_measurements

        if shipped_measurements():
            df = load_shipped()
            chosen = df.attrs["shipped"]
            df.attrs["notes"] = [
                f"no measurements in the default results database {default_db_path()}: using the measurements "
                f"shipped with effkit, from {chosen.machine} ({chosen.name}); measure your own with "
                "`effkit compare`"]
            return df
    if csv is not None and db is not None:
        raise BadInputError(f"give {setting('csv')} or {setting('db')}, not both", field="csv")
    if csv is not None:
        results = read_results_csv(csv, required=required)
        results.attrs["source"] = f"CSV {os.fspath(csv)}"  # charts write where their numbers came from
        return results
    if db is None and not required:
        return None if default_if_it_holds is None else _default_store_if_it_holds(default_if_it_holds)
    results = load_results(db)
    results.attrs["source"] = f"results database {os.fspath(db) if db is not None else default_db_path()}"
    if required and results.empty:
        # Name the database read: with none given the user may not know which one that was.
        where = f"results database {db}" if db is not None else f"default results database {default_db_path()}"
        raise BadInputError(f"the {where} holds no measurements; run `effkit measure` or `effkit compare` "
                            f"first, or read other results with {setting('db')} FILE or {setting('csv')} FILE",
                            field="db")
    return results


def _default_store_is_empty() -> bool:
    path = default_db_path()
    if not path.exists():
        return True
    with Store(path, create=False, readonly=True) as store:  # not an effkit store: its error, as before
        return len(store) == 0


def _default_store_if_it_holds(model: str) -> Any:
    from effkit.errors import StoreError

    try:
        results = load_results()
    except StoreError:
        return None
    if results.empty or "model" not in results.columns or not (results["model"] == model).any():
        return None
    return results
