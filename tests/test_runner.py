"""measure() runs through the one runner (effkit.measurement.run.run_configs): progress shape, ids, failed rows."""

from torch import nn

import effkit
from effkit.store import Store

FAST = dict(device="cpu", warmup_s=0, warmup_iters=1, min_iters=2, min_time_s=0, energy=False, idle_s=0)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        if x.shape[0] == 3:
            raise RuntimeError("batch 3 refused")
        return self.conv(x)


def test_progress_gets_the_events_run_sweep_gets():
    from effkit.measurement.run import SweepEvent

    from_measure = []
    effkit.measure(Tiny(), input_size=4, batch_sizes=[1, 2], progress=from_measure.append, **FAST)
    assert all(isinstance(e, SweepEvent) for e in from_measure)
    assert [(e.kind, e.done, e.total) for e in from_measure if e.kind != "phase"] == [
        ("start", 0, 2), ("begin", 0, 2), ("done", 1, 2), ("begin", 1, 2), ("done", 2, 2)]
    assert [e.config.batch_size for e in from_measure if e.kind == "begin"] == [1, 2]


def test_rows_stored_with_ids_and_a_failed_configuration_does_not_stop_the_others(tmp_path):
    db = tmp_path / "r.sqlite"
    df = effkit.measure(Tiny(), input_size=4, batch_sizes=[3, 1], db=db, **FAST)
    assert df.columns[0] == "id"
    assert df["status"].tolist() == ["failed", "ok"]
    assert "batch 3 refused" in df["error"].iloc[0]
    with Store(db) as store:
        assert sorted(store.rows()["id"].tolist()) == sorted(df["id"].tolist())


def test_db_none_stores_nothing():
    df = effkit.measure(Tiny(), input_size=4, batch_sizes=[1], **FAST)
    assert "id" not in df.columns and df["status"].tolist() == ["ok"]


def test_measure_and_a_sweep_give_the_same_table(tmp_path, tiny):
    # Both go through the one runner: the same configuration gives the same columns in the same order,
    # id and ROW_COLUMNS first (the documented order of a result row).
    from effkit.measurement.config import ROW_COLUMNS
    from effkit.sweep import run_sweep, sweep_spec

    measured = effkit.measure(f"{tiny}:build", batch_sizes=[1], db=tmp_path / "m.sqlite", **FAST)
    swept = run_sweep(sweep_spec(models=[f"{tiny}:build"], **FAST), db=tmp_path / "s.sqlite")
    assert list(swept.columns) == list(measured.columns)
    assert list(swept.columns[:len(ROW_COLUMNS) + 1]) == ["id", *ROW_COLUMNS]


def test_a_failed_row_says_why_in_one_wording():
    # A failure inside the measurement and a measure function that raises read the same: an effkit error
    # by its own message, any other exception as "Type: message" on one line.
    from effkit.errors import BadInputError
    from effkit.measurement.config import MeasureConfig
    from effkit.measurement.row import measure_row
    from effkit.measurement.run import measure_one

    config = MeasureConfig("resnet18", **FAST)
    for error, text in [(BadInputError("input 1x3x8x8 is too small"), "input 1x3x8x8 is too small"),
                        (RuntimeError("first line\n  second line"), "RuntimeError: first line second line")]:
        inside = measure_row(config, analysis=error)

        def raising(config, error=error):
            raise error

        raised = measure_one(config, raising)
        assert inside["status"] == raised["status"] == "failed"
        assert inside["error"] == raised["error"] == text
