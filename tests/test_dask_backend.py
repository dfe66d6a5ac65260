"""Tests of the Monte Carlo runner on a Dask cluster: the same chunks as with loky, a worker
killed mid-study (at a chunk the test holds), an unreachable scheduler and an unknown backend."""
import functools
import os
import re
import signal
import socket
import threading

import pytest
from distributed import Client, LocalCluster

import mc_training
from conftest import run_script, wait_for
from gates import CLOSED, held_chunks, held_while_closed
from kinks.checks import UsageError
from kinks.files import load_json
from kinks.mc.runner import run_chunks
from kinks.mc.study import make_config
from mc_checks import assert_same_chunks, chunk_contents

STUDY = dict(widths=[16], runs=40, chunk_size=10, max_checks=3, offsets=[0.0])
LONG_STUDY = dict(STUDY, runs=400)  # 40 chunks


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded worker processes on 127.0.0.1."""
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as local_cluster:
        yield local_cluster


@pytest.mark.slow
@pytest.mark.parametrize("results_on_client", [False, True])
def test_dask_chunks_equal_loky_chunks(cluster, tmp_path, results_on_client):
    mc_training.run(**STUDY, jobs=2, out=tmp_path / "loky")
    mc_training.run(**STUDY, backend="dask", scheduler=cluster.scheduler_address,
                    results_on_client=results_on_client, out=tmp_path / "dask")
    assert_same_chunks(chunk_contents(tmp_path / "dask"), chunk_contents(tmp_path / "loky"))


def finished_chunks(run_dir):
    """{chunk JSON path: (inode, mtime)} of the finished chunks: a rewrite changes both."""
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in run_dir.rglob("chunk_*.json")}


def kill_holding_worker(pid, run_dir, gate, report):
    """Once chunk 0 of ``run_dir`` is finished and the worker ``pid`` holds a chunk (``gates``),
    SIGKILL it, note the finished chunks in ``report['finished']`` and open the gate."""
    try:
        wait_for(lambda: finished_chunks(run_dir) and held_chunks(gate, pid), "chunk 0 and a chunk held by the victim")
        os.kill(pid, signal.SIGKILL)
        report["finished"] = finished_chunks(run_dir)
    finally:
        (gate / CLOSED).unlink()


@pytest.mark.slow
def test_killed_worker_loses_only_its_task(cluster, tmp_path, capsys):
    """Every chunk but chunk 0 is held until the test has killed a worker that holds one, so the
    worker dies mid-study, after chunk 0 and before any other chunk is written, whatever the timing."""
    total = LONG_STUDY["runs"] // LONG_STUDY["chunk_size"]
    with Client(cluster) as client:
        victim = next(iter(client.run(os.getpid).values()))
    run_dir, gate, report = tmp_path / "killed", tmp_path / "gate", {}
    gate.mkdir()
    (gate / CLOSED).touch()
    killer = threading.Thread(target=kill_holding_worker, args=(victim, run_dir, gate, report))
    killer.start()
    try:
        run_chunks(run_dir, make_config("quick", **LONG_STUDY), backend="dask", scheduler=cluster.scheduler_address,
                   simulate=functools.partial(held_while_closed, gate, (0,)))
    finally:
        killer.join()
    assert len(report["finished"]) == 1  # killed mid-study: chunk 0 only was written
    after = finished_chunks(run_dir)
    assert {path: after[path] for path in report["finished"]} == report["finished"]  # none redone
    capsys.readouterr()
    mc_training.run(**LONG_STUDY, backend="dask", scheduler=cluster.scheduler_address, out=run_dir)
    assert f"{total} of {total} chunks already finished" in capsys.readouterr().out
    mc_training.run(**LONG_STUDY, jobs=2, out=tmp_path / "undisturbed")
    assert_same_chunks(chunk_contents(run_dir), chunk_contents(tmp_path / "undisturbed"))


def closed_port():
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_unreachable_scheduler_is_refused_and_writes_nothing(tmp_path):
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(UsageError, match=re.escape(f"--scheduler {address}: no Dask scheduler reachable")):
        mc_training.run(**STUDY, backend="dask", scheduler=address, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--backend", "x"], "error: --backend must be one of loky, dask; got 'x'"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "error: --scheduler needs --backend dask"),
])
def test_bad_backend_options_give_one_line(tmp_path, args, message):
    process = run_script("mc_training.py", "run", *args, "--out", tmp_path / "run", cwd=tmp_path)
    assert process.returncode == 2
    assert process.stderr.strip() == message
    assert not (tmp_path / "run").exists()


def sweep_results(folder):
    """Every sweep result file's contents without its wall time, keyed by relative path."""
    results = {}
    for path in sorted(folder.rglob("step_e*.json")):
        result = load_json(path)
        result.pop("wall_time_s")
        results[str(path.relative_to(folder))] = result
    return results


@pytest.mark.slow
def test_sweep_on_dask_equals_sweep_on_loky(cluster, tmp_path):
    import run_nn_setups as rn
    from test_sweeps import SWEEP

    small = {**SWEEP, "datasets": "radial_1", "optimizers": "adam", "jobs": 2}
    rn.sweep(out=tmp_path / "loky", **small)
    rn.sweep(out=tmp_path / "dask", **small, backend="dask", scheduler=cluster.scheduler_address)
    loky, dask = sweep_results(tmp_path / "loky"), sweep_results(tmp_path / "dask")
    assert loky and loky.keys() == dask.keys()
    for key in loky:
        assert loky[key] == dask[key]
