"""Tests of the commands of mc_training.py, mc_minima.py and mc_plotting.py as a user meets them: bad
input refused in one line (exit 2) before anything is written, in process and as typed; every
option documented in --help; default run folders named after the options; the event command's
table and figure; the soundness table."""
import csv
import importlib
from pathlib import Path

import numpy as np
import pytest

import mc_training
import utils
from conftest import run_script
from kinks.checks import UsageError
from kinks.files import load_json
from kinks.mc.study import make_config, run_dir_name, run_label
from kinks.mc.theory import event_counts
from kinks.mc.training import soundness_row
from kinks.stats import clopper_pearson
from mc_checks import SEVEN, slow_after_first


@pytest.mark.parametrize("args, option", slow_after_first([
    (["--optimizer", "rmsprop"], "--optimizer"),
    (["--stopping", "crossing,never"], "--stopping"),
    (["--optimizer", "sgd", "--stopping", "sufficient"], "--stopping"),
    (["--runs", "0"], "--runs"),
    (["--widths", "1"], "--widths"),
    (["--widths", "abc"], "--widths"),
    (["--offsets", ""], "--offsets"),
    (["--jobs", "two"], "--jobs"),
    (["--engine", "reduced", "--optimizer", "adam"], "--engine"),
]))
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, args, option):
    process = run_script("mc_training.py", "run", *args, cwd=tmp_path)
    stderr = process.stderr
    assert process.returncode == 2
    assert stderr.strip().count("\n") == 0 and option in stderr and stderr.startswith("error:")
    assert not (tmp_path / "results").exists()


def test_default_run_directory_names_the_options_that_differ_from_the_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path))
    small = dict(widths=[16], offsets=[0.0], max_checks=1, jobs=1)
    assert Path(mc_training.run(**small, runs=4)).name == "quick-offsets0-widths16-runs4-max_checks1"
    assert Path(mc_training.run(**small, runs=4, optimizer="gd", seed=0)).name == \
        "quick-offsets0-widths16-runs4-max_checks1"
    assert Path(mc_training.run(**small, runs=4, optimizer="sgd", save_params=True)).name == \
        "quick-sgd-offsets0-widths16-runs4-max_checks1-params"
    assert run_dir_name("quick", make_config(runs=100), {"runs"}) == "quick-runs100"
    assert run_dir_name("quick", make_config(), set()) == "quick"


def test_data_option_is_recorded_and_labels_the_run(tmp_path):
    run_dir = mc_training.run(widths=[8], runs=20, offsets=[0.0], max_checks=2, epochs_per_check=50, jobs=1,
                              data="2:1,-1:0.5,1:-1,-2:0", probs="0.1,0.2,0.3,0.4", out=tmp_path / "own")
    config = load_json(Path(run_dir) / "run.json")["config"]
    assert config["data"] == [[-2.0, 0.0], [-1.0, 0.5], [1.0, -1.0], [2.0, 1.0]]  # sorted by x
    np.testing.assert_allclose(config["probs"], [0.4, 0.2, 0.3, 0.1])
    assert "data -2:0,-1:0.5,1:-1,2:1 p 0.4,0.2,0.3,0.1" in run_label(config)


def test_event_writes_table_and_figure(tmp_path, capsys):
    mc_training.event(widths=[16, 32], runs=300, factor=10, out=tmp_path, compile="no")
    with open(tmp_path / "event.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["n"]) for row in rows] == [16, 32]
    counts = event_counts(32, 300, 0.1, 0.1, 10.0, 0)
    assert int(rows[1]["joint"]) == counts["joint"] and int(rows[1]["D1"]) == counts["D1"]
    low, high = clopper_pearson(counts["joint"], 300)
    assert float(rows[1]["joint_low"]) == pytest.approx(float(low))
    assert (tmp_path / "event.png").stat().st_size > 0
    assert (tmp_path / "event.pdf").read_bytes().startswith(b"%PDF")  # matplotlib's, as compile is no
    tex = (tmp_path / "event.tex").read_text()  # the same figure in pgfplots: the joint and 8 conditions
    assert tex.count(r"\addplot") == 9 and r"$N = n^2$" in tex and "n^2 samples" not in tex.replace("$N = n^2$", "")
    assert load_json(tmp_path / "event.json")["factor"] == 10


def test_soundness_prints_its_settings_and_the_interval_of_each_row(capsys):
    """The table's counts are soundness_row's, and the interval is Clopper-Pearson's of
    crossed later / certified."""
    mc_training.soundness(widths=[16], runs=60, epochs=300, seed=3)
    lines = capsys.readouterr().out.splitlines()
    assert "300 epochs more" in lines[0] and "seed 3" in lines[0] and "-3:-1,-2:2" in lines[0]
    certified, crossed, reach = soundness_row(16, 60, 300, seed=3)
    row = lines[2].split()
    assert row[:4] == ["16", "60", str(certified), str(crossed)] and certified > 0
    low, high = clopper_pearson(crossed, certified)
    assert " ".join(row[4:6]) == f"[{low:.4f}, {high:.4f}]" and float(row[6]) == pytest.approx(reach, abs=1e-4)
    assert "Clopper-Pearson" in lines[3]


BAD_RUN = [
    (dict(batch_size=0), "--batch_size"), (dict(batch_size="half"), "--batch_size"),
    (dict(optimizer="sgd", batch_size=32), "--batch_size"),
    (dict(leak=1.0), "--leak"), (dict(leak=-0.1), "--leak"), (dict(leak="x"), "--leak"),
    (dict(leak=0.1, stopping="sufficient"), "--stopping"),
    (dict(optimizer="gd", batch_size=16, stopping="sufficient"), "--stopping"),
    (dict(data="-2:1,-1:0,0:1,1:0,2:1"), "--data"), (dict(data="-2:1,-1:0,1:0,1:1,2:1"), "--data"),
    (dict(data="1:0,2:1,3:0"), "--data"), (dict(data="-1:0,1:0,2:1"), "--data"),
    (dict(data="-1:0,-2"), "--data"), (dict(data="a:b"), "--data"),
    (dict(data="-2:1,-1:0,1:0,2:1", probs="0.5,0.5"), "--probs"),
    (dict(data="-2:1,-1:0,1:0,2:1", probs="0.5,0.5,0.5,-0.5"), "--probs"),
    (dict(data="-2:1,-1:0,1:0,2:1", probs="0.3,0.3,0.3,0.3"), "--probs"),
    (dict(probs="0.5,0.5"), "--probs"),
]


@pytest.mark.parametrize("options, option", BAD_RUN)
def test_bad_new_run_options_refused_before_work(tmp_path, options, option):
    with pytest.raises(UsageError) as error:
        mc_training.run(widths=[16], runs=10, jobs=1, out=tmp_path / "run", **options)
    assert option in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, option", [
    (dict(widths=1), "--widths"), (dict(runs=0), "--runs"), (dict(factor=0), "--factor"),
    (dict(epsilon="small"), "--epsilon"), (dict(gamma=float("nan")), "--gamma")])
def test_bad_event_options_refused_before_work(tmp_path, options, option):
    with pytest.raises(UsageError) as error:
        mc_training.event(out=tmp_path / "event", **options)
    assert option in str(error.value) and not (tmp_path / "event").exists()


@pytest.mark.parametrize("script, args, option", slow_after_first([
    ("mc_training.py", ["run", "--data=-1:0,1:0,0.5:1", "--runs", "5"], "--data"),
    ("mc_training.py", ["event", "--factor", "-1"], "--factor"),
    ("mc_plotting.py", ["report", "--against", "nowhere"], "--against"),
]))
def test_cli_bad_input_one_line_exit_2(tmp_path, script, args, option):
    process = run_script(script, *args, cwd=tmp_path)
    assert process.returncode == 2 and process.stderr.startswith("error:") and option in process.stderr
    assert process.stderr.strip().count("\n") == 0 and not (tmp_path / "results").exists()


@pytest.mark.parametrize("args, option", slow_after_first([
    (["--widths", "1"], "--widths"),
    (["--runs", "0"], "--runs"),
    (["--tol", "-1"], "--tol"),
    (["--max_epochs", "1500"], "--max_epochs"),
    (["--offsets", "a"], "--offsets"),
    (["--jobs", "two"], "--jobs"),
    (["--leak", "1"], "--leak"),
    (["--data", "1:2,2:3,3:1"], "--data"),
    (["--probs", "0.5,0.5"], "--probs"),
    (["--data", SEVEN["data"], "--probs", "0.5,0.5"], "--probs"),
]))
def test_risk_bad_input_gives_one_line_and_writes_nothing(tmp_path, args, option):
    out = tmp_path / "run"
    result = run_script("mc_minima.py", "risk", *args, "--out", out, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}")
    assert not out.exists()


@pytest.mark.parametrize("args, message", slow_after_first([
    (["report", "--results", "{empty}"], "no run folder"),
    (["report", "--results", "{empty}", "--compile", "maybe"], "--compile must be one of"),
    (["report", "--results", "{empty}", "--input", "missing"], "--input missing"),
    (["examples", "--seed", "-1"], "--seed must be an integer"),
]))
def test_cli_bad_input_exits_2(tmp_path, args, message):
    args = [arg.format(empty=tmp_path) for arg in args]
    result = run_script("mc_plotting.py", *args, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "out").exists()


SCRIPTS = ("mc_training", "mc_minima", "mc_plotting")
COMMANDS = [(script, name) for script in SCRIPTS for name in importlib.import_module(script).COMMANDS]


@pytest.mark.parametrize("script, name", COMMANDS)
def test_every_option_of_the_monte_carlo_commands_is_documented(script, name):
    function = importlib.import_module(script).COMMANDS[name]
    _, entries = utils.docstring_sections(function)
    assert set(utils.command_options(function)) == set(entries), name
    text = utils.command_help(f"{script}.py", name, function)
    assert "(not documented)" not in text and all(f"--{option}" in text for option in entries)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_names_each_command_in_one_short_line(script):
    module = importlib.import_module(script)
    lines = utils.script_help(f"{script}.py", module.COMMANDS).splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("  ")]
    assert listed == list(module.COMMANDS)
    assert all(len(line) <= 100 for line in lines)
