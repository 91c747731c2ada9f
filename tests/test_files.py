"""effkit.files: outputs written through links and into special files, atomically, never over a database."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading

import pytest

from effkit import files
from effkit.errors import BadInputError


def test_writes_through_a_symlink_to_its_target(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    files.write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new\n"


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "made.csv")
    files.write_text(link, "x\n")
    assert link.is_symlink() and (tmp_path / "made.csv").read_text() == "x\n"


def test_an_unrelated_tmp_file_is_left_alone(tmp_path):
    (tmp_path / "t.csv.tmp").write_text("someone else's\n")
    files.write_text(tmp_path / "t.csv", "a,b\n")
    assert (tmp_path / "t.csv.tmp").read_text() == "someone else's\n"
    assert (tmp_path / "t.csv").read_text() == "a,b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.csv.tmp"]  # no temporary file left


def test_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "r.md"
    out.write_text("old")
    out.chmod(0o640)
    files.write_text(out, "new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_fifo_is_written_directly_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    files.write_text(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert got == ["through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_dev_null_stays_a_device():
    files.write_text("/dev/null", "discarded\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dash_is_stdout(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files.write_text("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("kind", ["effkit store", "other SQLite"])
def test_refuses_to_write_over_sqlite(tmp_path, kind):
    db = tmp_path / "results.csv"  # the name says csv; the header says SQLite
    if kind == "effkit store":
        from effkit.store import Store

        Store(db).close()
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
    before = db.read_bytes()
    with pytest.raises(BadInputError, match="SQLite"):
        files.write_text(db, "a,b\n")
    assert db.read_bytes() == before


def test_refuses_the_commands_own_database_even_before_it_exists(tmp_path):
    db = tmp_path / "new.db"
    link = tmp_path / "alias.db"
    link.symlink_to(db)
    with pytest.raises(BadInputError, match="results database"):
        files.check_output(link, keep=[None, db])
    assert not db.exists()


def test_check_writable_still_allows_a_database_path(tmp_path):
    # check_writable is about permissions only (sweep uses it for --db); check_output adds the refusals.
    from effkit.store import Store

    Store(tmp_path / "r.db").close()
    assert files.check_writable(tmp_path / "r.db") == tmp_path / "r.db"


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "r.md"
    out.write_text("old")

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(BadInputError, match="No space left"):
        files.write_text(out, "new")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_cli_dash_output_goes_to_stdout(tmp_path, monkeypatch, capsys):
    from effkit.cli import main

    (tmp_path / "net.py").write_text("from torch import nn\ndef build():\n    return nn.Conv2d(3, 2, 1, bias=False)\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["profile", "net.py:build", "--input-shape", "1,3,4,4", "-f", "csv", "-o", "-"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("name,")
    assert not (tmp_path / "-").exists()


def test_figures_are_written_like_text_outputs(tmp_path):
    from matplotlib.figure import Figure

    from effkit.report.figures import save_figure

    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1], [0, 1])
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "fig.png"
    link.symlink_to(target)
    save_figure(fig, link)  # through the link: the link stays, the target gets the PNG
    assert link.is_symlink() and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    db = tmp_path / "results.png"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    before = db.read_bytes()
    with pytest.raises(BadInputError, match="SQLite"):
        save_figure(fig, db)  # a database under a figure's name is never replaced
    assert db.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
