"""Tests of kinks.mc.crossing (the report's estimates): aggregation of hand-made chunk files against
scipy's beta quantiles, tolerance to corrupt, truncated and foreign files, the comparison with the
shipped reference, and the hint for a results folder of the old meaning."""
import csv
import shutil

import numpy as np
import pytest
import scipy.stats

import mc_plotting
from kinks.checks import UsageError
from kinks.files import save_csv, save_json, save_npz
from kinks.mc.crossing import REFERENCE_COLUMNS, experiment_of, series_labels, shared_parts
from kinks.mc.runner import CHUNK_FORMAT, chunk_path, load_chunk
from kinks.mc.study import make_config, run_label
from kinks.mc.training import STATUSES
from conftest import ROOT
from mc_checks import hand_made_run, real_run


@pytest.mark.slow
def test_aggregation_of_hand_made_chunks(tmp_path, capsys):
    hand_made_run(tmp_path / "mc" / "hand")
    mc_plotting.report(results=tmp_path, out=tmp_path / "report", compile="no")
    printed = capsys.readouterr().out
    with open(tmp_path / "report" / "crossing_probability.csv") as file:
        rows = {int(row["width"]): row for row in csv.DictReader(file)}
    # n = 16: 30 networks, 13 stayed (LOCALLY_CONVERGED + EARLY_STOPPED), k = 17 possibly crossed
    row = rows[16]
    assert (int(row["runs"]), int(row["crossed"]), int(row["CROSSED"]), int(row["DIVERGED"])) == (30, 17, 12, 3)
    assert (int(row["LOCALLY_CONVERGED"]), int(row["EARLY_STOPPED"]), int(row["UNFINISHED"])) == (11, 2, 2)
    assert float(row["p_hat"]) == pytest.approx(17 / 30, rel=1e-12)
    assert float(row["ci_low"]) == pytest.approx(scipy.stats.beta.ppf(0.025, 17, 14), rel=1e-9)
    assert float(row["ci_high"]) == pytest.approx(scipy.stats.beta.ppf(0.975, 18, 13), rel=1e-9)
    # n = 32: one chunk of 20, all LOCALLY_CONVERGED: p_hat = 0, interval [0, Beta^-1(0.975; 1, 20)]
    row = rows[32]
    assert (int(row["runs"]), int(row["planned"]), int(row["crossed"])) == (20, 30, 0)
    assert (float(row["p_hat"]), float(row["ci_low"])) == (0.0, 0.0)
    assert float(row["ci_high"]) == pytest.approx(scipy.stats.beta.ppf(0.975, 1, 20), rel=1e-9)
    assert "(20 of 30 finished)" in printed
    assert "skipped n = 32 (p_hat = 0)" in printed and "no fit: needs two widths with p_hat > 0, has n = 16" in printed
    assert (tmp_path / "report" / "crossing_probability.png").stat().st_size > 0


@pytest.mark.slow
def test_corrupt_truncated_and_foreign_files_are_skipped(tmp_path, capsys):
    run_dir = real_run(tmp_path / "mc" / "real")
    other = real_run(tmp_path / "other", seed=1)  # another configuration: its chunks are foreign here
    valid = [load_chunk(chunk_path(run_dir, 0.0, 16, k))[1]["status"] for k in (2, 3)]
    truncated = chunk_path(run_dir, 0.0, 16, 0)
    truncated.write_bytes(truncated.read_bytes()[:100])
    foreign = chunk_path(run_dir, 0.0, 16, 1)
    for suffix in (".npz", ".json"):
        shutil.copy(chunk_path(other, 0.0, 16, 1).with_suffix(suffix), foreign.with_suffix(suffix))
    corrupt_json = chunk_path(run_dir, 0.0, 16, 7).with_suffix(".json")  # not a task of this run
    corrupt_json.write_text("{not json")
    stray = foreign.parent / "notes.txt"
    stray.write_text("hello")
    capsys.readouterr()
    mc_plotting.report(results=tmp_path, out=tmp_path / "report", compile="no")
    captured = capsys.readouterr()
    assert "warning" not in captured.out  # warnings go to stderr only
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4
    for path in (truncated, foreign, corrupt_json.with_suffix(".npz"), stray):
        assert sum(str(path) in line for line in warnings) == 1
    with open(tmp_path / "report" / "crossing_probability.csv") as file:
        (row,) = csv.DictReader(file)
    statuses = np.concatenate(valid)
    assert int(row["runs"]) == len(statuses) == 10
    for name in STATUSES:
        assert int(row[name]) == np.sum(statuses == name)
    assert (tmp_path / "report" / "crossing_probability.png").stat().st_size > 0


def test_results_folder_of_the_old_meaning_gets_a_hint(tmp_path):
    hand_made_run(tmp_path / "mc" / "hand")
    with pytest.raises(UsageError, match="--results is the results root, the folder holding mc/"):
        mc_plotting.report(results=tmp_path / "mc", compile="no")


@pytest.mark.slow
def test_report_against_reference_on_hand_made_counts(tmp_path, capsys):
    config = make_config(widths=[16, 32], runs=100, offsets=[0.0], chunk_size=100, seed=3)
    run_dir = tmp_path / "mc" / "mine"
    save_json(run_dir / "run.json", {"format": "kinks-mc-run/1", "config": config})
    for width, crossed in ((16, 40), (32, 25)):
        path = chunk_path(run_dir, 0.0, width, 0)
        status = np.array(["CROSSED"] * crossed + ["LOCALLY_CONVERGED"] * (100 - crossed))
        save_npz(path, status=status, stop_epoch=np.zeros(100, int),
                 first_cross_epoch=np.zeros(100, int), step_size=np.ones(100))
        save_json(path.with_suffix(".json"), {"format": CHUNK_FORMAT, "offset": 0.0, "width": width,
                                              "chunk": 0, "runs": 100, "config": config, "counts": {}})
    experiment = experiment_of(config)
    other = experiment_of(make_config(optimizer="sgd"))
    refs = [dict(preset="paper", offset=0.0, width=16, runs=400, crossed=200, p_hat=0.5, ci_low=0, ci_high=1,
                 seed=0, experiment=experiment, command="x"),
            dict(preset="paper_sgd", offset=0.0, width=32, runs=400, crossed=10, p_hat=0.025, ci_low=0,
                 ci_high=1, seed=0, experiment=other, command="y")]
    save_csv(tmp_path / "ref" / "refs.csv", refs, REFERENCE_COLUMNS)
    mc_plotting.report(results=tmp_path, out=tmp_path / "report", compile="no",
                       against=tmp_path / "ref")
    with open(tmp_path / "report" / "against_reference.csv") as file:
        (row,) = list(csv.DictReader(file))  # n = 32 has only a reference of another experiment
    pbar = 240 / 500
    expected = (0.4 - 0.5) / np.sqrt(pbar * (1 - pbar) * (1 / 100 + 1 / 400))
    assert int(row["width"]) == 16 and float(row["z"]) == pytest.approx(expected, rel=1e-12)
    assert "paper" in capsys.readouterr().out


def test_shipped_reference_files_are_complete():
    """Every shipped 1-D reference (the star study's, told apart by their columns, are checked in
    tests/star/test_star_reference.py)."""
    for path in sorted((ROOT / "reference").glob("*.csv")):
        with open(path) as file:
            rows = list(csv.DictReader(file))
        if rows and "kink_crossed" in rows[0]:
            continue
        assert rows and all(row["command"].startswith("python mc_training.py run --preset") for row in rows)
        assert all(0 <= int(row["crossed"]) <= int(row["runs"]) for row in rows)


def test_legend_labels_leave_the_settings_every_run_shares_to_the_title():
    runs = [dict(name="a", label="gd, he init, theory step", config={}),
            dict(name="b", label="sgd, he init, theory step, data -1:0,-2:1,1:0,2:1", config={})]
    rows = [dict(run=run, offset=offset, width=16) for run in "ab" for offset in (0.0, 0.1)]
    assert shared_parts(runs) == ["he init", "theory step"]
    assert series_labels(runs, rows) == {("a", 0.0): r"gd, $\Delta$ = 0", ("a", 0.1): r"gd, $\Delta$ = 0.1",
                                         ("b", 0.0): r"sgd, data -1:0,-2:1,1:0,2:1, $\Delta$ = 0",
                                         ("b", 0.1): r"sgd, data -1:0,-2:1,1:0,2:1, $\Delta$ = 0.1"}
    one = [row for row in rows if row["run"] == "a"]
    assert shared_parts(runs[:1]) == [] and series_labels(runs[:1], one)[("a", 0.0)] == r"$\Delta$ = 0"


def test_runs_of_one_label_are_told_apart_by_their_settings_and_else_by_their_folders():
    configs = {"a": make_config(), "b": make_config(seed=1, widths=[16, 32]), "c": make_config(offsets=[0.0, 0.05])}
    runs = [dict(name=name, label=run_label(config), config=config) for name, config in configs.items()]
    rows = [dict(run=name, offset=offset, width=16) for name, config in configs.items() for offset in config["offsets"]]
    labels = series_labels(runs, rows)
    assert labels[("a", 0.1)] == r"seed = 0, widths = 16,32,64, $\Delta$ = 0.1"
    assert labels[("b", 0.0)] == r"seed = 1, widths = 16,32, $\Delta$ = 0"
    # a and c differ only in their offsets, so where both have a Delta their folders tell them apart
    assert labels[("a", 0.0)] == r"seed = 0, widths = 16,32,64, $\Delta$ = 0, a"
    assert labels[("c", 0.0)] == r"seed = 0, widths = 16,32,64, $\Delta$ = 0, c"
    assert len(set(labels.values())) == len(labels)
