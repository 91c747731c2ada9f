"""Measurements shipped with effkit: real rows, with their machine, for charts and tables out of the box.

``effkit/data/measurements/*.csv`` holds results-store rows exported with the machine fingerprint columns
(``gpu_name``, ``cpu_model``, ``driver_version``, ``machine_id`` ...). Figure 3, the report and the compare
table can be drawn from them before a user has measured anything; they always say which machine and
which file the numbers came from.

Choosing a file (:func:`choose_shipped`): by file name (or its stem, or a unique part of it), by device
kind (``"cpu"`` / ``"gpu"``: the newest of that kind), or by default the newest GPU file, else the newest
CPU file. "Newest" is the date in the file name (``...-YYYY-MM-DD.csv``), else the latest row timestamp.

Each row's per-layer timings (``layers_json``, up to hundreds of KB a row) live beside the CSV in
``<stem>.layers.jsonl.gz`` (one JSON line a row: its row number, model, batch size and ``layers_json``), so the
CSV stays readable by any CSV reader (Python's ``csv`` module refuses fields over 128 KiB);
:func:`read_measurements` joins them back (:func:`effkit.layers_file.split_layers` writes the pair).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from effkit.errors import BadInputError

from effkit.layers_file import join_layers

#: The folder the shipped measurement files are read from (tests point it elsewhere).
DATA_DIR = Path(__file__).resolve().parent / "data" / "measurements"

#: What the default choice and the ``which`` words mean.
KINDS = ("gpu", "cpu")
_AUTO = ("", "auto", "default")
# Only these columns are read to describe a file (the per-layer JSON makes whole files slow to parse).
_DESCRIBE = ("model", "device", "gpu_name", "cpu_model", "batch_size", "dtype", "timestamp", "torch_threads")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class ShippedFile:
    """One shipped measurements file and the machine it was measured on.

    Attributes:
        name: the file name (``cpu-amd-epyc-1-threads-2026-12-02.csv``): what ``which`` selects.
        path: where it is.
        kind: ``"gpu"`` when its rows ran on a CUDA device, else ``"cpu"``.
        machine: the GPU name(s), else the CPU model (with the torch thread count when recorded).
        date: ``YYYY-MM-DD`` from the file name, else from the latest row; ``""`` when neither says.
        rows: number of rows.
        models: the models it holds, in file order.
        batch_sizes: the batch sizes it holds, ascending.
        dtypes: the dtypes it holds.
    """

    name: str
    path: Path
    kind: str
    machine: str
    date: str
    rows: int
    models: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    dtypes: tuple[str, ...]

    @property
    def label(self) -> str:
        """``"<name> (<machine>, <kind>, <date>)"``: how messages and titles name the file."""
        when = f", {self.date}" if self.date else ""
        return f"{self.name} ({self.machine}, {self.kind}{when})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "machine": self.machine, "date": self.date,
                "rows": self.rows, "models": ", ".join(self.models),
                "batch_sizes": ", ".join(map(str, self.batch_sizes)), "dtypes": ", ".join(self.dtypes),
                "path": str(self.path)}


def _read(path: Path, **kw):
    import pandas as pd

    try:
        return pd.read_csv(path, **kw)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BadInputError(f"cannot read the shipped measurements {path}: {first}") from e


def _unique(df, column: str) -> list[str]:
    if column not in df.columns:
        return []
    seen = [str(v).strip() for v in df[column].dropna()]
    return list(dict.fromkeys(v for v in seen if v and v.lower() not in ("nan", "none")))


def _describe(path: Path) -> ShippedFile:
    import pandas as pd

    df = _read(path, usecols=lambda c: c in _DESCRIBE)
    on_gpu = df["device"].astype(str).str.startswith("cuda") if "device" in df.columns else pd.Series(False)
    kind = "gpu" if bool(on_gpu.any()) else "cpu"
    if kind == "gpu":
        machine = " / ".join(_unique(df[on_gpu.values], "gpu_name")) or "unnamed GPU"
    else:
        machine = " / ".join(_unique(df, "cpu_model")) or "unnamed CPU"
        threads = _unique(df, "torch_threads")
        if len(threads) == 1:
            n = threads[0].removesuffix(".0")
            machine += f", {n} torch thread{'s' if n != '1' else ''}"
    found = _DATE.search(path.name)
    date = found.group(1) if found else ""
    if not date and "timestamp" in df.columns:
        ts = pd.to_datetime(df["timestamp"], errors="coerce", utc=True).dropna()
        date = ts.max().strftime("%Y-%m-%d") if len(ts) else ""
    batches = pd.to_numeric(df["batch_size"], errors="coerce").dropna() if "batch_size" in df.columns else []
    return ShippedFile(name=path.name, path=path, kind=kind, machine=machine, date=date, rows=len(df),
                       models=tuple(_unique(df, "model")), batch_sizes=tuple(sorted({int(b) for b in batches})),
                       dtypes=tuple(_unique(df, "dtype")))


def shipped_measurements() -> list[ShippedFile]:
    """The shipped measurement files, newest first (GPU before CPU on the same date).

    Returns an empty list when effkit ships none (an install without the data files).

    Raises:
        BadInputError: a shipped file that cannot be read as CSV (named in the message).
    """
    folder = Path(DATA_DIR)
    files = [_describe(p) for p in sorted(folder.glob("*.csv"))] if folder.is_dir() else []
    return sorted(files, key=lambda f: (f.date, f.kind == "gpu", f.name), reverse=True)


def _available(files: Sequence[ShippedFile]) -> str:
    return "; ".join(f.label for f in files)


def choose_shipped(which: Optional[str] = None) -> ShippedFile:
    """The shipped file ``which`` names.

    Args:
        which: ``None`` / ``"auto"``: the newest GPU file, else the newest CPU file; ``"gpu"`` / ``"cpu"``:
            the newest file of that kind; anything else: a file name, its stem, or a part of the name that
            only one file has (case-insensitive).

    Raises:
        BadInputError: nothing shipped, nothing matching, or a part of a name that several files share;
            the message lists the shipped files.
    """
    files = shipped_measurements()
    if not files:
        raise BadInputError(f"effkit ships no measurements here ({DATA_DIR} holds no .csv files)")
    want = (which or "").strip().lower()
    if want in _AUTO:
        return ([f for f in files if f.kind == "gpu"] or files)[0]
    if want in KINDS:
        of_kind = [f for f in files if f.kind == want]
        if of_kind:
            return of_kind[0]
        raise BadInputError(f"effkit ships no {want.upper()} measurements yet; shipped: {_available(files)}")
    exact = [f for f in files if want in (f.name.lower(), Path(f.name).stem.lower())]
    part = exact or [f for f in files if want in f.name.lower()]
    if len(part) == 1:
        return part[0]
    what = "matches several shipped files" if part else "matches no shipped measurements file"
    raise BadInputError(f"{which!r} {what}; shipped: {_available(part or files)} (choose a file by its name, "
                        "or cpu or gpu)")


def read_measurements(path: Path):
    """A measurements CSV with its rows' ``layers_json`` joined back from the side file, when there is one."""
    return join_layers(_read(path), path)


def _rows(path: Path):
    """The rows of a shipped file in today's column meanings (as the store reads its own rows)."""
    import pandas as pd

    from effkit.store.db import upgrade_row

    df = read_measurements(path)
    if "energy_j_per_img_gross" in df.columns and "energy_j_per_img_net" not in df.columns:
        df = pd.DataFrame([upgrade_row(r) for r in df.to_dict(orient="records")])
    return df


def load_shipped(which: Optional[str] = None, *, models: Optional[Sequence[str]] = None,
                 batch_sizes: Optional[Sequence[int]] = None, dtype: Optional[str] = None,
                 input_size: Optional[int] = None):
    """The rows of one shipped file (see :func:`choose_shipped`) as a DataFrame, optionally filtered.

    Args:
        which: the file, as :func:`choose_shipped` takes it.
        models: keep these models (each must be in the file).
        batch_sizes: keep rows at these batch sizes.
        dtype: keep rows in this dtype (``float32``, ``fp16`` ...).
        input_size: keep rows whose input is this many pixels square.

    Returns:
        The rows in file order; ``df.attrs["shipped"]`` is the :class:`ShippedFile` they came from.

    Raises:
        BadInputError: as :func:`choose_shipped`; a model the file lacks; nothing left after the filters.
    """
    chosen = choose_shipped(which)
    df = _rows(chosen.path)
    if models is not None:
        missing = [m for m in models if m not in chosen.models]
        if missing:
            raise BadInputError(f"the shipped measurements {chosen.label} hold no {', '.join(missing)}; "
                                f"they hold {', '.join(chosen.models)}")
        df = df[df["model"].astype(str).isin(list(models))]
    df = _filter(df, chosen, batch_sizes, dtype, input_size)
    df = df.reset_index(drop=True)
    df.attrs["shipped"] = chosen
    return df


def _filter(df, chosen: ShippedFile, batch_sizes, dtype, input_size):
    import pandas as pd

    said = []
    if batch_sizes is not None:
        df = df[pd.to_numeric(df["batch_size"], errors="coerce").isin([int(b) for b in batch_sizes])]
        said.append(f"batch size {', '.join(map(str, batch_sizes))}")
    if dtype is not None:
        from effkit.units import dtype_name, parse_dtype

        want = dtype_name(parse_dtype(dtype))
        df = df[df["dtype"].astype(str).str.removeprefix("torch.") == want]
        said.append(want)
    if input_size is not None:
        side = df["input_shape"].astype(str).str.split("x").str[-2:].str.join("x")
        df = df[side == f"{input_size}x{input_size}"]
        said.append(f"input {input_size}x{input_size}")
    if said and df.empty:
        raise BadInputError(f"no rows of the shipped measurements {chosen.label} match {', '.join(said)}; they "
                            f"hold batch size(s) {', '.join(map(str, chosen.batch_sizes))} in "
                            f"{', '.join(chosen.dtypes)}")
    return df


def compare_shipped(models: Optional[Sequence[str]] = None, *, which: Optional[str] = None, small: bool = False,
                    batch_sizes: Optional[Sequence[int]] = None, dtype: Optional[str] = "float32",
                    input_size: Optional[int] = None):
    """The rows :func:`effkit.compare` would measure, read from a shipped file instead of measured.

    Args:
        models: the models to show; default :data:`~effkit.models.registry.DEFAULT_MODELS` (or
            ``SMALL_MODELS`` with ``small``) that the file holds, or all of its models if it holds none.
        which / batch_sizes / dtype / input_size: as :func:`load_shipped`.

    Returns:
        One row per model and batch size (the latest, where a file repeats one), models in the order
        given, batch sizes ascending; ``attrs["shipped"]`` names the file.
    """
    import pandas as pd

    chosen = choose_shipped(which)
    if models:
        names = list(dict.fromkeys(models))
    else:
        from effkit.models.registry import DEFAULT_MODELS, SMALL_MODELS

        wanted = SMALL_MODELS if small else DEFAULT_MODELS
        names = [m for m in wanted if m in chosen.models] or list(chosen.models)
    df = load_shipped(chosen.name, models=names, batch_sizes=batch_sizes, dtype=dtype, input_size=input_size)
    order = {m: i for i, m in enumerate(names)}
    stamp = pd.to_datetime(df.get("timestamp"), errors="coerce", utc=True) if "timestamp" in df else None
    df = df.assign(_order=df["model"].map(order), _batch=pd.to_numeric(df["batch_size"], errors="coerce"),
                   _stamp=stamp if stamp is not None else 0)
    keys = ["model", "batch_size", "dtype", "input_shape"]
    df = df.sort_values("_stamp", kind="stable").drop_duplicates([k for k in keys if k in df.columns], keep="last")
    df = df.sort_values(["_order", "_batch"], kind="stable").drop(columns=["_order", "_batch", "_stamp"])
    df = df.reset_index(drop=True)
    df.attrs["shipped"] = chosen
    return df


__all__ = ["DATA_DIR", "ShippedFile", "choose_shipped", "compare_shipped", "load_shipped", "shipped_measurements"]
