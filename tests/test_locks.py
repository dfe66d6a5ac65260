"""One lock per output folder (kinks/locks.py): a second writer is refused in one line whatever its
settings, a lock whose holder died is taken over with a warning, nested holds of one process share
the lock; and, with the scripts themselves, two studies started together into one folder (many
times over) and a SIGKILLed holder."""
import fcntl
import json
import os
import signal
import socket
import threading
import time

import pytest

from conftest import run_script, start_script
from kinks.checks import UsageError
from kinks.files import load_json
from kinks.locks import LOCK_NAME, output_lock, write_holder

TINY = ["--widths", "16", "--offsets", "0", "--runs", "64", "--jobs", "1"]


def hold_elsewhere(folder, pid=12345):
    """Lock ``folder`` as another process would (its own open file description), recording ``pid``."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": pid, "host": "elsewhere", "since": "2026-11-29T10:00:00"}).encode())
    return fd


def test_a_held_folder_is_refused_in_one_line_naming_the_holder(tmp_path):
    fd = hold_elsewhere(tmp_path / "run")
    with pytest.raises(UsageError) as refused:
        with output_lock(tmp_path / "run"):
            pass
    assert str(refused.value) == (f"--out {tmp_path / 'run'} is in use by PID 12345 on host elsewhere since "
                                  "2026-11-29T10:00:00; rerun when it ends")
    os.close(fd)  # the holder ends: its lock goes with it
    with output_lock(tmp_path / "run") as path:
        assert load_json(path)["pid"] == os.getpid() and load_json(path)["host"] == socket.gethostname()
    assert path.read_text() == ""  # released: the record is cleared


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path, capsys):
    fd = hold_elsewhere(tmp_path / "run", pid=999_999)
    os.close(fd)  # the process died: the kernel dropped its lock, its record stayed
    with output_lock(tmp_path / "run", "--results"):
        with output_lock(tmp_path / "run", "--results"):  # nested: the same lock, no second warning
            pass
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: --results {tmp_path / 'run'}: took over the lock of PID 999999 on host elsewhere "
                   "since 2026-11-29T10:00:00 (that process is gone)"]


def manifest_matches_chunks(folder):
    """Whether run.json describes the study its chunks were written by, and all of them are there."""
    manifest = load_json(folder / "run.json")
    chunks = sorted(folder.rglob("chunk_*.json"))
    return len(chunks) == 1 and all(load_json(c)["config"] == manifest["config"] for c in chunks)


@pytest.mark.slow
def test_two_studies_started_together_into_one_folder_one_runs_the_other_is_refused(tmp_path):
    for trial in range(6):
        folder = tmp_path / f"run{trial}"
        processes = [start_script("mc_training.py", "run", *TINY, "--out", folder, *extra, cwd=tmp_path)
                     for extra in ([], ["--optimizer", "momentum", "--stopping", "crossing"])]
        outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read().strip().splitlines()) for p in processes]
        codes = sorted(code for code, _, _ in outcomes)
        assert codes == [0, 2], outcomes
        refused = next(err for code, _, err in outcomes if code == 2)
        assert len(refused) == 1 and refused[0].startswith("error: --out") and \
            ("is in use by PID" in refused[0] or "holds a different study" in refused[0]), refused
        assert manifest_matches_chunks(folder)


@pytest.mark.slow
def test_a_killed_holders_lock_is_taken_over_by_the_next_run(tmp_path):
    options = ["--widths", "16", "--offsets", "0", "--chunk_size", "20000", "--jobs", "1", "--out", tmp_path / "run"]
    command = ["mc_training.py", "run", "--runs", "20000", *options]
    holder = start_script(*command, cwd=tmp_path)
    lock = tmp_path / "run" / LOCK_NAME
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert json.loads(lock.read_text())["pid"] == holder.pid
    refused = run_script(*command, cwd=tmp_path)
    assert refused.returncode == 2 and f"is in use by PID {holder.pid}" in refused.stderr
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    again = run_script("mc_training.py", "run", "--runs", "1000", *options, cwd=tmp_path)  # fewer runs: refused
    assert again.returncode == 2
    assert f"took over the lock of PID {holder.pid} on host {socket.gethostname()}" in again.stderr
    assert "holds a different study" in again.stderr  # the lock taken, then the folder checked


def test_a_process_that_loses_the_race_by_microseconds_still_names_the_holder(tmp_path):
    """The winner records itself only after it took the lock: the loser waits for the record."""
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, record still empty, as in the race
    threading.Timer(0.2, write_holder, [fd]).start()
    with pytest.raises(UsageError, match=f"is in use by PID {os.getpid()} on host"):
        with output_lock(tmp_path):
            pass
    os.close(fd)
