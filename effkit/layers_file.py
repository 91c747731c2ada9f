"""The per-layer timings of a measurements CSV, kept in a side file so that the CSV stays a plain CSV.

A row measured with the per_layer setting carries ``layers_json``: hundreds of KB of JSON, more than Python's ``csv``
module reads in one field (128 KiB) and more than a person wants in a spreadsheet. Beside ``name.csv``,
``name.layers.jsonl.gz`` holds one JSON line per such row: its row number, model, batch size and
``layers_json``. :func:`split_layers` writes the pair; :func:`join_layers` puts the column back.
"""

from __future__ import annotations

from pathlib import Path

from effkit.errors import BadInputError

#: The side file of ``name.csv``: ``name.layers.jsonl.gz``.
LAYERS_SUFFIX = ".layers.jsonl.gz"


def layers_path(path: Path) -> Path:
    """The per-layer side file of measurements CSV ``path``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".csv") + LAYERS_SUFFIX)


def join_layers(df, path: Path):
    """``df``, the rows of measurements CSV ``path``, with ``layers_json`` joined back from the side file (``df``
    unchanged when there is none).

    Raises:
        BadInputError: the side file cannot be read, or does not match the rows.
    """
    import gzip
    import json

    side = layers_path(path)
    if not side.is_file():
        return df
    try:
        with gzip.open(side, "rt", encoding="utf-8") as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except (OSError, EOFError, ValueError) as e:
        raise BadInputError(f"cannot read the per-layer timings {side}: {e}") from e
    texts = [None] * len(df)
    models = df["model"].astype(str).tolist() if "model" in df.columns else [None] * len(df)
    for e in entries:
        i = e.get("row")
        if not isinstance(i, int) or not 0 <= i < len(df) or (models[i] is not None and e.get("model") != models[i]):
            raise BadInputError(f"the per-layer timings {side} do not match the rows of {Path(path).name} "
                                f"(entry {e.get('row')!r}, model {e.get('model')!r})")
        texts[i] = e.get("layers_json")
    return df.assign(layers_json=texts)


def split_layers(df, path: Path, **to_csv) -> Path:
    """Write ``df`` as measurements CSV ``path``, its ``layers_json`` in the gzipped side file; returns ``path``."""
    import gzip
    import json

    path = Path(path)
    if "layers_json" in df.columns:
        with gzip.open(layers_path(path), "wt", encoding="utf-8") as f:
            for i, (model, batch, text) in enumerate(zip(df["model"], df["batch_size"], df["layers_json"])):
                if isinstance(text, str):
                    f.write(json.dumps({"row": i, "model": str(model), "batch_size": int(batch),
                                        "layers_json": text}) + "\n")
        df = df.drop(columns=["layers_json"])
    df.to_csv(path, index=False, **to_csv)
    return path
