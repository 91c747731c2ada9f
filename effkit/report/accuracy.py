"""Reference ImageNet accuracy of the zoo's architectures, with sources, and the user's own overrides.

The bundled table (``effkit/data/reference_accuracy.csv``) has one row per model name, each naming the weights
it refers to and where the number comes from. A user CSV (given by the caller, or the rows that
:func:`append_accuracy` adds after an evaluation) overrides and extends it by model name.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from effkit.errors import BadInputError

#: Columns of an accuracy table, in file order. ``model`` and ``top1`` are required in a user file.
ACCURACY_COLUMNS = ["model", "top1", "top5", "dataset", "weights", "source"]
REQUIRED_COLUMNS = ["model", "top1"]

#: ImageNet-1k's validation set: what a top-1 beside the published ones has to be measured on.
IMAGENET_VAL_IMAGES = 50_000
IMAGENET_CLASSES = 1_000
# How an evaluation records its folder in the dataset column (see effkit.evaluate.EvalResult.accuracy_row).
_COUNTS = re.compile(r"([\d,]+)\s+images?,\s*([\d,]+)\s+class(?:es)?")


def reference_path() -> Path:
    """Path of the bundled reference table (package data)."""
    return Path(str(resources.files("effkit") / "data" / "reference_accuracy.csv"))


def _read(path: Path, *, user: bool):
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"model": str}, keep_default_na=True)
    except FileNotFoundError:
        raise BadInputError(f"accuracy file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"cannot read accuracy file {path}: {e}") from e
    except pd.errors.EmptyDataError:
        raise BadInputError(f"accuracy file {path} is empty; it needs a header with at least "
                            f"{', '.join(REQUIRED_COLUMNS)}") from None
    except pd.errors.ParserError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "malformed CSV"
        raise BadInputError(f"accuracy file {path} is not valid CSV ({first})") from e
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise BadInputError(
            f"accuracy file {path} lacks column(s) {', '.join(missing)}; expected a header like "
            f"{','.join(ACCURACY_COLUMNS)} (top1/top5 in percent)"
        )
    for col in ("top1", "top5"):
        if col not in df.columns:
            df[col] = math.nan
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df.loc[values.isna() & df[col].notna(), "model"].tolist()
        if bad or ((values < 0) | (values > 100)).any():
            who = bad or df.loc[(values < 0) | (values > 100), "model"].tolist()
            raise BadInputError(
                f"accuracy file {path}: {col} of {', '.join(map(str, who[:3]))} is not a percentage "
                "between 0 and 100 (write 76.13, not 0.7613 or an error rate)"
            )
        df[col] = values
    if df["model"].isna().any() or (df["model"].str.strip() == "").any():
        raise BadInputError(f"accuracy file {path} has a row without a model name")
    if df["top1"].isna().any():
        who = df.loc[df["top1"].isna(), "model"].tolist()
        raise BadInputError(f"accuracy file {path}: no top1 for {', '.join(who[:3])}")
    df["model"] = df["model"].str.strip()
    for col in ("dataset", "weights", "source"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    if user:
        # Every number must say where it came from; a user row without one comes from the user's file.
        df.loc[df["source"].str.strip() == "", "source"] = f"user file {path}"
    df["origin"] = "user" if user else "reference"
    return df[[*ACCURACY_COLUMNS, "origin"]]


def load_accuracy(path: str | Path | None = None):
    """The accuracy table: bundled reference rows, overridden and extended by a user CSV.

    Args:
        path: optional user CSV with at least ``model`` and ``top1`` columns (percent, not error rates).
            Its rows replace reference rows of the same model name; later rows of the same model
            win over earlier ones (so rows appended after an evaluation take effect).

    Returns:
        A DataFrame with one row per model: ``model, top1, top5, dataset, weights, source, origin``
        (``origin`` is ``"reference"`` or ``"user"``).

    Raises:
        BadInputError: the user file is missing, unreadable, lacks required columns, or holds
            values that are not percentages.
    """
    import pandas as pd

    ref = _read(reference_path(), user=False)
    if path is None:
        return ref.reset_index(drop=True)
    user = _read(Path(path), user=True).drop_duplicates("model", keep="last")
    merged = pd.concat([ref[~ref["model"].isin(user["model"])], user], ignore_index=True)
    return merged.reset_index(drop=True)


def accuracy_caveat(dataset: Any) -> str:
    """Why a top-1 is not an ImageNet val number, from its ``dataset`` text; ``""`` when nothing says so.

    An evaluation records ``"<folder> (N images, C classes; ...)"``; a folder that is not ImageNet val's
    50,000 images of 1,000 classes (a ``limit``, a subset, another dataset) gives a number that is not
    comparable to the published ones. Text without counts (the reference table, a hand-written file) is
    taken as it stands.
    """
    m = _COUNTS.search(str(dataset or ""))
    if m is None:
        return ""
    images, classes = (int(g.replace(",", "")) for g in m.groups())
    if images >= IMAGENET_VAL_IMAGES and classes == IMAGENET_CLASSES:
        return ""
    return (f"{images:,} images of {classes:,} classes, not ImageNet val "
            f"({IMAGENET_VAL_IMAGES:,} images of {IMAGENET_CLASSES:,} classes)")


#: Zoo models that have no published ImageNet top-1, and why (said in Figure 3 instead of a point).
NO_PUBLISHED_ACCURACY = {
    "vovnet27_slim": "the VoVNet paper publishes no ImageNet top-1 for VoVNet-27-slim, only its detection result "
                     "as the DSOD300 backbone (74.8 mAP, PASCAL VOC 2007, Table 2); vovnet39 (76.77 %) is the "
                     "smallest zoo VoVNet with a published top-1",
}


def why_no_accuracy(model: str) -> str:
    """Why ``model`` has no published ImageNet top-1 when effkit knows the reason, else ``""``."""
    return NO_PUBLISHED_ACCURACY.get(str(model), "")


def accuracy_of(accuracy, model: str) -> float | None:
    """Top-1 of ``model`` in an accuracy table, or ``None`` when it has none."""
    hit = accuracy.loc[accuracy["model"] == model, "top1"]
    return float(hit.iloc[-1]) if len(hit) else None


def check_appendable(path: str | Path) -> Path:
    """Refuse an accuracy CSV that :func:`append_accuracy` could not extend, before any long work.

    Raises:
        BadInputError: the path cannot be written (see :func:`effkit.files.check_output`), or
            the file exists but is not a readable accuracy table.
    """
    from effkit.files import check_output

    p = check_output(path)
    if p.exists():
        _read(p, user=True)
    return p


def append_accuracy(path: str | Path, row: dict[str, Any]) -> Path:
    """Append one row to a user accuracy CSV (created with a header if it does not exist).

    Args:
        path: the CSV to extend; usable afterwards as ``load_accuracy(path)``.
        row: at least ``model`` and ``top1``; ``top5``, ``dataset``, ``weights`` and ``source`` are
            written when given. ``source`` defaults to "effkit evaluate" with today's date.

    Returns:
        The path written.
    """
    if not row.get("model") or row.get("top1") is None:
        raise BadInputError("an accuracy row needs a model name and a top1 value")
    p = check_appendable(path)  # refuse to append to a file that would not load afterwards
    out = {c: row.get(c, "") for c in ACCURACY_COLUMNS}
    if not out["source"]:
        out["source"] = f"effkit evaluate, {datetime.now(timezone.utc):%Y-%m-%d}"
    try:
        header = None
        if p.exists() and p.stat().st_size:
            with p.open(newline="") as f:
                header = next(csv.reader(f), None)
        if header is not None and [h.strip() for h in header] != ACCURACY_COLUMNS:
            # A hand-written file with other columns: rewrite it whole rather than misalign a row.
            import pandas as pd

            old = pd.read_csv(p, dtype=str, keep_default_na=False)
            from effkit.files import write_text

            write_text(p, pd.concat([old, pd.DataFrame([out]).astype(str)], ignore_index=True).to_csv(index=False))
            return p
        with p.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=ACCURACY_COLUMNS)
            if header is None:
                writer.writeheader()
            writer.writerow(out)
    except OSError as e:
        raise BadInputError(f"cannot write {p}: {e.strerror or e}") from e
    return p
