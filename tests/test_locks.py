"""One lock per output folder (kinks/locks.py): a second writer is refused in one line whatever its
settings, a lock whose holder died is taken over with a warning, nested holds of one process share
the lock, a process that finds the lock taken but not yet recorded waits for one of the two events
(the record, the release), a lock file removed by its releasing holder is locked anew, and a folder
the lock made is removed again when nothing was written into it. With the scripts themselves: every
command that writes is refused while another process holds its folder, a file in the way of a
folder is one line, two studies started together into one folder (many times over), and a holder
killed at a chosen chunk. Nothing here waits for a while: the test process holds the lock itself
(as another process would), or the holder is held at a chosen chunk (``tests/gates.py``)."""
import fcntl
import importlib
import json
import os
import signal
import socket

import pytest

import mc_training
from conftest import HANG_GUARD_S, call_script, run_script, start_script, wait_for
from gates import held_chunks
from kinks import locks
from kinks.checks import UsageError
from kinks.files import load_json
from kinks.locks import LOCK_NAME, output_lock, write_holder
from kinks.star.config import StarConfig, preset_configs

TINY = ["--widths", "16", "--offsets", "0", "--runs", "64", "--jobs", "1"]
HOLDER = "PID 12345 on host elsewhere since 2026-11-29T10:00:00"


def hold_elsewhere(folder, pid=12345, name=LOCK_NAME):
    """Lock ``folder`` as another process would (its own open file description), recording ``pid``."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": pid, "host": "elsewhere", "since": "2026-11-29T10:00:00"}).encode())
    return fd


def test_a_held_folder_is_refused_in_one_line_naming_the_holder(tmp_path):
    fd = hold_elsewhere(tmp_path / "run")
    with pytest.raises(UsageError) as refused:
        with output_lock(tmp_path / "run"):
            pass
    assert str(refused.value) == f"--out {tmp_path / 'run'} is in use by {HOLDER}; rerun when it ends"
    os.close(fd)  # the holder ends: its lock goes with it
    with output_lock(tmp_path / "run") as path:
        assert load_json(path)["pid"] == os.getpid() and load_json(path)["host"] == socket.gethostname()
    assert not path.exists()  # released: the lock file is removed


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path, capsys):
    fd = hold_elsewhere(tmp_path / "run", pid=999_999)
    os.close(fd)  # the process died: the kernel dropped its lock, its record stayed
    with output_lock(tmp_path / "run", "--results"):
        with output_lock(tmp_path / "run", "--results"):  # nested: the same lock, no second warning
            pass
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: --results {tmp_path / 'run'}: took over the lock of PID 999999 on host elsewhere "
                   "since 2026-11-29T10:00:00 (that process is gone)"]


def test_a_process_that_finds_the_lock_taken_but_unrecorded_waits_for_the_record(tmp_path, monkeypatch):
    """The winner records itself only after it took the lock: the loser looks again until it can
    name the holder. Here the record is written right after the loser's first look."""
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, record still empty, as in the race
    looks = []

    def look_then_record(looked_at):
        looks.append(read_holder(looked_at))
        if len(looks) == 1:
            write_holder(fd)
        return looks[-1]

    read_holder = locks.read_holder
    monkeypatch.setattr(locks, "read_holder", look_then_record)
    with pytest.raises(UsageError, match=f"is in use by PID {os.getpid()} on host"):
        with output_lock(tmp_path):
            pass
    assert looks[0] == "" and looks[-1]
    os.close(fd)


def test_a_process_whose_holder_ends_unrecorded_takes_the_lock(tmp_path, monkeypatch):
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, record still empty
    read_holder, ended = locks.read_holder, []

    def look_then_end_holder(looked_at):
        if not ended:
            ended.append(os.close(fd))  # the holder ends before it recorded itself
        return read_holder(looked_at)

    monkeypatch.setattr(locks, "read_holder", look_then_end_holder)
    with output_lock(tmp_path) as path:
        assert ended and load_json(path)["pid"] == os.getpid()


def test_a_lock_file_removed_by_its_releasing_holder_is_locked_anew(tmp_path, monkeypatch):
    """A process that opened the lock file just before its holder removed it (on release) must not
    hold the removed file: it locks the one now at the path."""
    try_lock, opened = locks.try_lock, []

    def open_then_removed(path):
        opened.append(try_lock(path))
        if len(opened) == 1:
            path.unlink()  # the releasing holder removes the file this process just opened
        return opened[-1]

    monkeypatch.setattr(locks, "try_lock", open_then_removed)
    with output_lock(tmp_path) as path:
        other = os.open(path, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # the file at the path is the one held
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(other)
    assert len(opened) == 2


def test_a_folder_the_lock_made_is_removed_when_nothing_was_written(tmp_path):
    with pytest.raises(UsageError):
        with output_lock(tmp_path / "new" / "run"):
            raise UsageError("refused after the lock")
    assert list(tmp_path.iterdir()) == []
    with output_lock(tmp_path / "kept") as path:
        (path.parent / "result.csv").write_text("x\n")
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["result.csv"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished 1-D run folder of the quick preset, to report and ship (path)."""
    return mc_training.run(widths=[16], runs=16, offsets=[0.0], jobs=1,
                           out=tmp_path_factory.mktemp("tiny") / "tiny")


def star_folder(results, **settings):
    return StarConfig(**settings).folder(results)


# (id, script, arguments, the folder it writes: a function of (results root, out folder), lock file)
WRITERS = [
    ("run", "mc_training", ["run", *TINY, "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("run default", "mc_training", ["run"], lambda r, o: r / "mc" / "quick", LOCK_NAME),
    ("event", "mc_training", ["event", "--widths", "16", "--runs", "10", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("experiments", "mc_training", ["experiments", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("report", "mc_plotting", ["report", "--input", "TINY", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("reference", "mc_plotting", ["reference", "--input", "TINY", "--preset", "quick", "--out", "OUT"],
     lambda r, o: o, LOCK_NAME),
    ("examples", "mc_plotting", ["examples", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("animate 1-D", "mc_plotting", ["animate", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("risk", "mc_minima", ["risk", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("diagnose", "mc_minima", ["diagnose", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("trace", "mc_minima", ["trace", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("star train", "train_star_dataset", ["train", "--width", "4", "--runs", "2"],
     lambda r, o: star_folder(r, width=4, runs=2), LOCK_NAME),
    ("star experiments", "train_star_dataset", ["experiments"],
     lambda r, o: preset_configs("quick", step=None, activation="relu", random_bias=False, lr_factor=None,
                                 dtype="float32")[0].folder(r), LOCK_NAME),
    ("animate 2-D", "train_star_dataset", ["animate", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("star benchmark", "train_star_dataset", ["benchmark", "--seconds", "0.01"], lambda r, o: r / "star", LOCK_NAME),
    ("star report", "eval_star_dataset", ["report", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("fit", "run_nn_setups", ["fit", "--out", "OUT/fit.json"], lambda r, o: o, ".fit.json.lock"),
    ("sweep", "run_nn_setups", ["sweep", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("sweep default", "run_nn_setups", ["sweep", "--width", "16"], lambda r, o: r / "nn_setups" / "quick-width16",
     LOCK_NAME),
    ("sweep benchmark", "run_nn_setups", ["benchmark", "--out", "OUT/b.json"], lambda r, o: o, ".b.json.lock"),
    ("table", "eval_nn_setups", ["table", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("figures", "eval_nn_setups", ["figures", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
    ("sweep report", "eval_nn_setups", ["report", "--out", "OUT"], lambda r, o: o, LOCK_NAME),
]


@pytest.mark.parametrize("script, argv, folder, name", [case[1:] for case in WRITERS], ids=[c[0] for c in WRITERS])
def test_every_command_that_writes_is_refused_while_another_process_holds_its_folder(
        monkeypatch, capsys, tmp_path, tiny_run, script, argv, folder, name):
    results, out = tmp_path / "results", tmp_path / "out"
    results.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINKS_RESULTS", str(results))
    held = folder(results, out)
    fd = hold_elsewhere(held, name=name)
    argv = [str(out) + a[3:] if a.startswith("OUT") else str(tiny_run) if a == "TINY" else a for a in argv]
    code, _, err = call_script(monkeypatch, capsys, importlib.import_module(script), f"{script}.py", *argv)
    os.close(fd)
    option = "--out" if "--out" in argv else "--results"
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {option} ") and \
        err[0].endswith(f" is in use by {HOLDER}; rerun when it ends"), err
    assert [path.name for path in held.iterdir()] == [name]  # nothing written, there or elsewhere
    assert all(held.is_relative_to(path) or path.is_relative_to(held) for path in results.rglob("*"))
    assert held == out or not out.exists()


# (script, command, option, arguments it needs to get that far)
FILE_IN_THE_WAY = [
    ("mc_training", "run", "out", TINY), ("mc_training", "run", "results", TINY),
    ("mc_training", "event", "out", []), ("mc_training", "event", "results", []),
    ("mc_training", "experiments", "out", []), ("mc_training", "experiments", "results", []),
    ("mc_plotting", "report", "out", ["--input", "TINY"]), ("mc_plotting", "report", "results", []),
    ("mc_plotting", "reference", "out", ["--input", "TINY", "--preset", "quick"]),
    ("mc_plotting", "examples", "out", []), ("mc_plotting", "examples", "results", []),
    ("mc_plotting", "animate", "out", []), ("mc_plotting", "animate", "results", []),
    ("mc_minima", "risk", "out", []), ("mc_minima", "risk", "results", []),
    ("mc_minima", "diagnose", "out", []), ("mc_minima", "diagnose", "results", []),
    ("mc_minima", "trace", "out", []), ("mc_minima", "trace", "results", []),
    ("train_star_dataset", "train", "results", []), ("train_star_dataset", "experiments", "results", []),
    ("train_star_dataset", "animate", "out", []), ("train_star_dataset", "animate", "results", []),
    ("train_star_dataset", "benchmark", "results", []),
    ("eval_star_dataset", "report", "out", ["--input", "."]), ("eval_star_dataset", "report", "results", []),
    ("run_nn_setups", "fit", "results", []), ("run_nn_setups", "sweep", "out", []),
    ("run_nn_setups", "sweep", "results", []), ("run_nn_setups", "benchmark", "results", []),
    *[("eval_nn_setups", command, option, []) for command in ("table", "figures", "report")
      for option in ("out", "results")],
]


@pytest.mark.parametrize("script, command, option, needs", FILE_IN_THE_WAY)
def test_a_file_where_a_folder_is_named_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, tiny_run, script,
                                                                 command, option, needs):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path / "results"))
    (tmp_path / "afile").write_text("not a folder\n")
    argv = [command, f"--{option}", "afile", *[str(tiny_run) if a == "TINY" else a for a in needs]]
    code, _, err = call_script(monkeypatch, capsys, importlib.import_module(script), f"{script}.py", *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: --{option}") and "afile" in err[0], (argv, err)
    assert [path.name for path in tmp_path.iterdir()] == ["afile"]


def manifest_matches_chunks(folder):
    """Whether run.json describes the study its chunks were written by, and all of them are there."""
    manifest = load_json(folder / "run.json")
    chunks = sorted(folder.rglob("chunk_*.json"))
    return len(chunks) == 1 and all(load_json(c)["config"] == manifest["config"] for c in chunks)


@pytest.mark.slow
def test_two_studies_started_together_into_one_folder_one_runs_the_other_is_refused(tmp_path):
    """Whichever comes first, the other is refused: by the lock while the first runs, or by the
    folder check after it ended; the verdict holds for any order and timing."""
    for trial in range(6):
        folder = tmp_path / f"run{trial}"
        processes = [start_script("mc_training.py", "run", *TINY, "--out", folder, *extra, cwd=tmp_path)
                     for extra in ([], ["--optimizer", "momentum", "--stopping", "crossing"])]
        outcomes = [(*p.communicate(timeout=HANG_GUARD_S), p.returncode) for p in processes]
        codes = sorted(code for _, _, code in outcomes)
        assert codes == [0, 2], outcomes
        refused = next(err for _, err, code in outcomes if code == 2).strip().splitlines()
        assert len(refused) == 1 and refused[0].startswith("error: --out") and \
            ("is in use by PID" in refused[0] or "holds a different study" in refused[0]), refused
        assert manifest_matches_chunks(folder)


@pytest.mark.slow
def test_a_killed_holders_lock_is_taken_over_by_the_next_run(tmp_path):
    options = [*TINY, "--out", tmp_path / "run"]
    gate = tmp_path / "gate"
    gate.mkdir()
    holder = start_script("tests/gated_run.py", gate, 0, "run", *options, cwd=tmp_path)  # holds its first chunk
    wait_for(lambda: held_chunks(gate) or holder.poll() is not None, "the holder to hold its first chunk")
    assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == holder.pid
    refused = run_script("mc_training.py", "run", *options, cwd=tmp_path)
    assert refused.returncode == 2 and f"is in use by PID {holder.pid}" in refused.stderr
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    fewer = ["32" if before == "--runs" else value for before, value in zip([None, *options], options)]
    again = run_script("mc_training.py", "run", *fewer, cwd=tmp_path)  # fewer runs: a different study
    assert again.returncode == 2
    assert f"took over the lock of PID {holder.pid} on host {socket.gethostname()}" in again.stderr
    assert "holds a different study" in again.stderr  # the lock taken, then the folder checked
