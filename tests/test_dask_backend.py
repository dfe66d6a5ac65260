"""Tests of the Monte Carlo runner on a Dask cluster: the same chunks as with loky, a worker
killed mid-study, an unreachable scheduler and an unknown backend."""
import os
import re
import signal
import socket
import threading
import time

import pytest
from distributed import Client, LocalCluster

import mc_training
from conftest import run_script
from kinks.checks import UsageError
from kinks.files import load_json
from mc_checks import assert_same_chunks, chunk_contents

STUDY = dict(widths=[16], runs=40, chunk_size=10, max_checks=3, offsets=[0.0])
LONG_STUDY = dict(STUDY, runs=400)  # 40 chunks: a worker killed after the first is mid-study


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


def kill_after_first_chunk(pid, run_dir, done, report):
    """SIGKILL ``pid`` once the first chunk of ``run_dir`` lands (unless ``done`` is set first);
    ``report['finished']``: the finished chunks just after the kill."""
    while not done.is_set() and not finished_chunks(run_dir):
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    report["finished"] = finished_chunks(run_dir)


@pytest.mark.slow
def test_killed_worker_loses_only_its_task(cluster, tmp_path, capsys):
    total = LONG_STUDY["runs"] // LONG_STUDY["chunk_size"]
    with Client(cluster) as client:
        victim = next(iter(client.run(os.getpid).values()))
    run_dir, done, report = tmp_path / "killed", threading.Event(), {}
    killer = threading.Thread(target=kill_after_first_chunk, args=(victim, run_dir, done, report))
    killer.start()
    try:
        mc_training.run(**LONG_STUDY, backend="dask", scheduler=cluster.scheduler_address, out=run_dir)
    finally:
        done.set()
        killer.join()
    assert 0 < len(report["finished"]) < total  # killed mid-study
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
