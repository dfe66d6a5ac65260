"""Tests of the strict command line (utils.run_cli) shared by every script: options checked
against the command's signature before any work, booleans, deprecated aliases, --help, one-line
errors and Ctrl-C, run as subprocesses the way a user types them."""
import os
import signal
import subprocess
import time

import pytest

import mc_training
import utils
from conftest import start_script
from kinks.checks import UsageError
from kinks.mc.runner import summarize


def one_line_error(process):
    """(stdout, the single stderr line) of a process that must exit 2 with one line 'error: ...'."""
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and stderr.strip().count("\n") == 0 and stderr.startswith("error: ")
    return stdout, stderr.strip()


@pytest.mark.parametrize("name, args, suggestion", [
    ("mc_training.py", ["run", "--width", "16,32"], "--widths"),
    ("mc_training.py", ["run", "--preset", "paper", "--run", "5"], "--runs"),
    pytest.param("train_star_dataset.py", ["train", "--epoch", "10"], "--epochs", marks=pytest.mark.slow),  # torch
    ("mc_plotting.py", ["report", "--ouput", "x"], "--out"),
])
def test_misspelled_option_is_refused_before_work_with_a_suggestion(tmp_path, name, args, suggestion):
    _, error = one_line_error(start_script(name, *args, cwd=tmp_path))
    assert f"unknown option --{args[-2][2:]}" in error and f"did you mean {suggestion}?" in error
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unknown_command_is_refused_with_a_suggestion(tmp_path):
    _, error = one_line_error(start_script("mc_training.py", "rnu", cwd=tmp_path))
    assert "unknown command 'rnu'; did you mean run?" in error


@pytest.mark.parametrize("words, value", [(["yes"], True), (["no"], False), (["TRUE"], True), (["0"], False),
                                          ([], True), (["--jobs", "1"], True)])
def test_booleans_read_true_false_yes_no_1_0(words, value):
    invocation = utils.parse_command_line({"run": mc_training.run}, ["run", "--save_params", *words])
    assert invocation.kwargs["save_params"] is value
    assert invocation.kwargs.get("jobs", 1) == 1
    negated = utils.parse_command_line({"run": mc_training.run}, ["run", "--nosave_params"])
    assert negated.kwargs == {"save_params": False}


def test_bad_boolean_is_refused_before_work(tmp_path):
    _, error = one_line_error(start_script("mc_training.py", "run", "--save_params", "maybe", cwd=tmp_path))
    assert "--save_params must be true, false, yes, no, 1 or 0; got 'maybe'" in error
    assert list(tmp_path.iterdir()) == []


def test_values_are_read_like_fire_and_positionals_fill_options_in_order():
    invocation = utils.parse_command_line({"run": mc_training.run}, ["run", "--widths=16,32", "--offsets", "0.1",
                                                                     "--jobs", "-1", "--out", "a/b"])
    assert invocation.kwargs == {"widths": (16, 32), "offsets": 0.1, "jobs": -1, "out": "a/b"}
    assert utils.parse_command_line({"status": mc_training.status}, ["status", "x"]).kwargs == {"input": "x"}
    assert utils.parse_command_line({"run": mc_training.run}, ["run", "--out", "2024"]).kwargs == {"out": "2024"}


@pytest.mark.parametrize("argv, message", [
    (["run", "--runs", "5", "--runs", "6"], "--runs is given twice"),
    (["run", "--runs"], "--runs needs a value"),
    (["status"], "status needs --input"),
    (["status", "a", "b"], "unexpected 'b'"),
    ([], "missing command"),
])
def test_malformed_command_lines_are_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        utils.parse_command_line({"run": mc_training.run, "status": mc_training.status}, argv)


def test_deprecated_alias_is_accepted_with_one_warning_line(tmp_path):
    run_dir = mc_training.run(widths=[16], runs=4, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")
    process = start_script("mc_training.py", "status", "--out", run_dir, cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert stderr.strip() == "warning: --out is deprecated for status; use --input"
    assert "LOCALLY_CONVERGED" in stdout or "CROSSED" in stdout
    # an alias renames only where the command lacks the old name: run keeps its own --out
    invocation = utils.parse_command_line({"run": mc_training.run}, ["run", "--out", "x"], {"out": "input"})
    assert invocation.kwargs == {"out": "x"}


def test_status_of_a_run_json_that_is_not_json_is_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{ not json")
    _, error = one_line_error(start_script("mc_training.py", "status", "--input", str(tmp_path / "run"), cwd=tmp_path))
    assert "run.json is not JSON" in error


def test_help_lists_every_option_with_its_real_default_and_allowed_values(tmp_path):
    process = start_script("mc_training.py", "run", "--help", cwd=tmp_path)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    for option in utils.command_options(mc_training.run):
        assert f"--{option}" in stdout
    assert "--preset [default: quick]" in stdout and "--jobs [default: -1]" in stdout
    assert "quick: 16,32,64; paper: 16,32,64,128,256,512,1024,2048" in " ".join(stdout.split())
    assert "gd (full batch) | momentum" in stdout
    assert "Default: None" not in stdout and "(not documented)" not in stdout


def test_help_into_a_reader_that_stops_early_ends_without_a_traceback(tmp_path):
    process = start_script("mc_training.py", "run", "--help", cwd=tmp_path)
    process.stdout.close()  # like `--help | head -c 0`: the reader is gone before the help is written
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141 and stderr == ""


def like_a_terminal():
    """SIGINT handled by default in the child, as in a terminal, even where this test runs with it
    ignored (a shell's background job ignores SIGINT, and its children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def process_group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def workers_started(pgid):
    """Whether a loky worker process runs in the process group ``pgid`` (-ww: whole command lines,
    which ps would otherwise cut at 80 characters, before the module name when the path is long)."""
    listing = subprocess.run(["ps", "-ww", "-o", "args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return "popen_loky_posix" in listing


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 3.0])  # while the workers import, and while they train
def test_ctrl_c_prints_one_line_exits_130_and_leaves_no_process(tmp_path, delay):
    """Ctrl-C in a terminal signals the whole process group: the command and its loky workers."""
    out = tmp_path / "run"
    process = start_script("mc_training.py", "run", "--widths", "512", "--runs", "2000", "--chunk_size", "100",
                           "--jobs", "2", "--engine", "dense", "--out", str(out), cwd=tmp_path, start_new_session=True,
                           preexec_fn=like_a_terminal)
    deadline = time.time() + 60
    while not workers_started(process.pid) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == utils.INTERRUPTED
    assert "Traceback" not in stderr and "leaked" not in stderr
    deadline = time.time() + 20
    while process_group_alive(process.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not process_group_alive(process.pid)  # no worker and no resource tracker left
    # rerunning the same command resumes: the run folder is consistent
    assert summarize(out)
