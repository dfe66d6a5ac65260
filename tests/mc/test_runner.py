"""Tests of kinks.mc.runner: the same chunks for any number of jobs, corrupt chunks named and
recomputed, a run killed at a chosen chunk resumed to the same results, another study refused naming the options,
a study extended to exactly the larger study, and old run folders resumed."""
import signal

import numpy as np
import pytest

import mc_training
from conftest import run_script, start_script, wait_for
from kinks.checks import UsageError
from kinks.files import load_json, save_json
from kinks.mc.crossing import crossing_estimate, load_run
from kinks.mc.runner import run_chunks, summarize
from gates import held_chunks
from mc_checks import assert_examples_hold, assert_same_chunks, chunk_contents

SMALL = dict(widths=[16, 32], runs=60, offsets=[0.0, 0.1], chunk_size=25, max_checks=4,
             epochs_per_check=250)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["gd", "sgd"])  # sgd: minibatches drawn in the compiled loop
def test_results_identical_for_any_number_of_jobs(tmp_path, optimizer):
    mc_training.run(**SMALL, optimizer=optimizer, jobs=1, out=tmp_path / "one")
    mc_training.run(**SMALL, optimizer=optimizer, jobs=2, out=tmp_path / "two")
    assert_same_chunks(chunk_contents(tmp_path / "one"), chunk_contents(tmp_path / "two"))


def test_dense_engine_and_adam_run(tmp_path):
    for optimizer in ("adam", "sgd"):
        mc_training.run(widths=[16], runs=30, offsets=[0.0], optimizer=optimizer, engine="dense",
                        max_checks=3, epochs_per_check=100, jobs=1, out=tmp_path / optimizer)
        (meta, arrays), = chunk_contents(tmp_path / optimizer).values()
        assert meta["config"]["stopping"] == ["crossing", "early"]
        assert set(arrays["status"]) <= {"CROSSED", "EARLY_STOPPED", "UNFINISHED", "DIVERGED"}


def test_corrupt_chunk_is_named_and_recomputed(tmp_path, capsys):
    mc_training.run(**SMALL, jobs=1, out=tmp_path / "run")
    expected = chunk_contents(tmp_path / "run")
    victim = tmp_path / "run" / next(iter(expected))
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    capsys.readouterr()
    mc_training.run(**SMALL, jobs=1, out=tmp_path / "run")
    warned = capsys.readouterr().err  # warnings go to stderr, one line each
    assert f"warning: {victim}" in warned and "recomputing it" in warned
    assert_same_chunks(expected, chunk_contents(tmp_path / "run"))


def small_cli_args(out):
    return ["run", "--widths", "16,32", "--runs", "120", "--offsets", "0", "--chunk_size", "20",
            "--max_checks", "6", "--epochs_per_check", "500", "--jobs", "1", "--out", str(out)]


@pytest.mark.slow
def test_killed_run_resumes_to_identical_results(tmp_path):
    """Killed (SIGKILL) while its third chunk is computed, held there by the test (``gates``): the
    two chunks written before are kept, the rest is computed on the rerun."""
    assert run_script("mc_training.py", *small_cli_args(tmp_path / "full"), cwd=tmp_path).returncode == 0
    gate = tmp_path / "gate"
    gate.mkdir()
    process = start_script("tests/gated_run.py", gate, 2, *small_cli_args(tmp_path / "killed"), cwd=tmp_path)
    wait_for(lambda: held_chunks(gate) or process.poll() is not None, "the run to hold its third chunk")
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert len(held_chunks(gate)) == 1 and len(list((tmp_path / "killed").rglob("chunk_*.json"))) == 2
    resumed = run_script("mc_training.py", *small_cli_args(tmp_path / "killed"), cwd=tmp_path)
    assert resumed.returncode == 0
    assert "2 of 12 chunks already finished" in resumed.stdout
    assert_same_chunks(chunk_contents(tmp_path / "full"), chunk_contents(tmp_path / "killed"))


def test_different_configuration_is_refused_naming_only_user_facing_options(tmp_path):
    mc_training.run(widths=[16], runs=10, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")
    with pytest.raises(UsageError, match="--max_checks 1 there, 2 now") as refused:
        mc_training.run(widths=[16], runs=10, offsets=[0.0], max_checks=2, jobs=1, out=tmp_path / "run")
    assert "chunk_sizes" not in str(refused.value)
    with pytest.raises(UsageError, match="--chunk_size 4096 there, 5 now"):
        mc_training.run(widths=[16], runs=10, offsets=[0.0], max_checks=1, chunk_size=5, jobs=1, out=tmp_path / "run")
    with pytest.raises(UsageError, match="--runs 5 is below the 10 there"):
        mc_training.run(widths=[16], runs=5, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")
    with pytest.raises(UsageError, match="--widths lacks 16"):
        mc_training.run(widths=[32], runs=10, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")


@pytest.mark.parametrize("grow", [dict(runs=70), dict(widths=[16, 32]), dict(offsets=[0.0, 0.1]),
                                  dict(runs=70, optimizer="sgd")])
def test_extended_study_equals_the_larger_study_run_from_the_start_bitwise(tmp_path, capsys, grow):
    """50 runs in chunks of 20 (the last partial: 10 runs), grown to 70 runs (that chunk is
    recomputed with 20), or by a width or an offset (their chunks are added); gd, and sgd grown in runs."""
    start = dict(widths=[16], runs=50, offsets=[0.0], chunk_size=20, max_checks=3, epochs_per_check=200, jobs=1,
                 optimizer=grow.get("optimizer", "gd"))
    mc_training.run(**start, out=tmp_path / "grown")
    before = chunk_contents(tmp_path / "grown")
    capsys.readouterr()
    mc_training.run(**{**start, **grow}, out=tmp_path / "grown")
    captured = capsys.readouterr()
    printed, warned = captured.out, captured.err
    assert f"extending {tmp_path / 'grown'}: --{next(iter(grow))} " in printed and "--chunk_size" not in printed
    partial = "delta_0.0/n_16/chunk_00002.npz"
    assert ("recomputing it" in warned) == ("runs" in grow) and (partial in warned) == ("runs" in grow)
    mc_training.run(**{**start, **grow}, out=tmp_path / "direct")
    grown, direct = chunk_contents(tmp_path / "grown"), chunk_contents(tmp_path / "direct")
    assert grown.keys() == direct.keys() and len(grown) > len(before) - ("runs" in grow)
    for key in grown:  # identical numbers; the chunk's recorded configuration may be the smaller one
        for name, array in direct[key][1].items():
            np.testing.assert_array_equal(grown[key][1][name], array)
        assert {**grown[key][0], "config": None} == {**direct[key][0], "config": None}
    config = load_json(tmp_path / "grown" / "run.json")["config"]
    assert config == load_json(tmp_path / "direct" / "run.json")["config"]
    assert summarize(tmp_path / "grown") == summarize(tmp_path / "direct")


def test_old_run_directory_without_new_fields_resumes(tmp_path):
    settings = dict(optimizer="sgd", widths=[16], runs=30, offsets=[0.0], chunk_size=10, max_checks=2,
                    epochs_per_check=50, jobs=1, out=tmp_path / "old")
    mc_training.run(**settings)
    new_fields = ("batch_size", "leak", "data", "probs", "samples")
    for path in [tmp_path / "old" / "run.json", *(tmp_path / "old").rglob("chunk_*.json")]:
        document = load_json(path)
        document["config"] = {k: v for k, v in document["config"].items() if k not in new_fields}
        save_json(path, document)
    (tmp_path / "old" / "delta_0.0" / "n_16" / "chunk_00002.json").unlink()
    before = summarize(tmp_path / "old")[(0.0, 16)]
    assert before["chunks"] == 2
    mc_training.run(**settings)
    after = summarize(tmp_path / "old")[(0.0, 16)]
    assert after["chunks"] == 3 and after["runs"] == 30


def test_the_examples_of_run_chunks_load_run_and_crossing_estimate_hold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write and read results/mc/small
    assert_examples_hold(run_chunks, load_run, crossing_estimate)
