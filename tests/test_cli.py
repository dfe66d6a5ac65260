"""Tests of the strict command line (utils.run_cli) shared by every script: options checked
against the command's signature before any work, booleans, deprecated aliases, --help, one-line
errors and Ctrl-C, run as subprocesses the way a user types them."""
import importlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mc_training
import utils
from conftest import HANG_GUARD_S, ROOT, call_script, start_script, wait_for
from gates import held_chunks
from kinks.checks import UsageError
from kinks.mc.runner import summarize


def one_line_error(process):
    """(stdout, the single stderr line) of a process that must exit 2 with one line 'error: ...'."""
    stdout, stderr = process.communicate(timeout=HANG_GUARD_S)
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


@pytest.mark.parametrize("interrupt, line", [(KeyboardInterrupt(), utils.INTERRUPTED),
                                             (KeyboardInterrupt("interrupted; no resume"), "interrupted; no resume")])
def test_ctrl_c_prints_the_commands_own_line_where_it_resumes_nothing(monkeypatch, capsys, interrupt, line):
    def command():
        raise interrupt
    monkeypatch.setattr("sys.argv", ["script.py", "command"])
    with pytest.raises(SystemExit) as stop:
        utils.run_cli({"command": command})
    assert stop.value.code == 130 and capsys.readouterr().err.strip() == line


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
    (["status", "a", "b", "c"], "unexpected 'c'"),
    ([], "missing command"),
])
def test_malformed_command_lines_are_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        utils.parse_command_line({"run": mc_training.run, "status": mc_training.status}, argv)


def test_deprecated_alias_is_accepted_with_one_warning_line(tmp_path):
    run_dir = mc_training.run(widths=[16], runs=4, offsets=[0.0], max_checks=1, jobs=1, out=tmp_path / "run")
    process = start_script("mc_training.py", "status", "--out", run_dir, cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 0
    assert stderr.strip() == "warning: --out is deprecated for status; use --input"
    assert "LOCALLY_CONVERGED" in stdout or "CROSSED" in stdout
    # an alias renames only where the command lacks the old name: run keeps its own --out
    invocation = utils.parse_command_line({"run": mc_training.run}, ["run", "--out", "x"], {"out": "input"})
    assert invocation.kwargs == {"out": "x"}


def test_status_takes_a_run_folders_name_or_its_path(tmp_path, monkeypatch, capsys):
    """One resolver for status and every --input: a path, or a name below <results>/mc."""
    results = tmp_path / "results"
    mc_training.run(widths=[16], runs=4, offsets=[0.0], max_checks=1, jobs=1, out=results / "mc" / "small")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    printed = []
    for argv in (["--input", "small", "--results", results], ["--input", results / "mc" / "small"], ["small"]):
        monkeypatch.setenv("KINKS_RESULTS", str(results))
        code, out, err = call_script(monkeypatch, capsys, mc_training, "mc_training.py", "status", *argv)
        assert code == 0 and err == [], err
        printed.append(out)
    assert printed[0] == printed[1] == printed[2] and "16" in printed[0]
    code, _, err = call_script(monkeypatch, capsys, mc_training, "mc_training.py", "status", "--input", "none")
    assert code == 2 and err == [f"error: --input none: no run folder (a folder with run.json) there or in "
                                 f"{results / 'mc'}"]


def test_status_of_a_run_json_that_is_not_json_is_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{ not json")
    _, error = one_line_error(start_script("mc_training.py", "status", "--input", str(tmp_path / "run"), cwd=tmp_path))
    assert "run.json is not JSON" in error


def test_help_lists_every_option_with_its_real_default_and_allowed_values(tmp_path):
    process = start_script("mc_training.py", "run", "--help", cwd=tmp_path)
    stdout, _ = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 0
    for option in utils.command_options(mc_training.run):
        assert f"--{option}" in stdout
    assert "--preset [default: quick]" in stdout and "--jobs [default: -1]" in stdout
    assert "quick: 16,32,64; paper: 16,32,64,128,256,512,1024,2048" in " ".join(stdout.split())
    assert "gd (full batch) | momentum" in stdout
    assert "Default: None" not in stdout and "(not documented)" not in stdout


SCRIPTS = ("mc_training", "mc_plotting", "mc_minima", "train_star_dataset", "eval_star_dataset", "run_nn_setups",
           "eval_nn_setups")


def unknown_names(commands, name):
    """What the --help of command ``name`` names that does not exist: an --option it lacks (unless a
    command named within the 60 characters before it has it: 'run --widths ...'), or a `word` in
    backticks that is neither its option nor a command of its script."""
    function = commands[name]
    text = utils.command_help("script.py", name, function).split("\n", 1)[1]  # without the usage line
    unknown = []
    for match in re.finditer(r"(?<![\w-])--(\w+)", text):
        before = text[max(0, match.start() - 60):match.start()]
        named = [word for word in re.findall(r"\w+", before) if word in commands]
        owners = [function, *(commands[word] for word in named[-1:])]
        if not any(match[1] in utils.command_options(owner) for owner in owners):
            unknown.append(f"--{match[1]}")
    unknown += [f"`{word}`" for word in re.findall(r"`+(\w+)`+", text)
                if word not in utils.command_options(function) and word not in commands]
    return unknown


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_help_names_only_options_and_commands_that_exist(script):
    commands = importlib.import_module(script).COMMANDS
    assert {name: unknown_names(commands, name) for name in commands} == {name: [] for name in commands}


def test_the_help_check_finds_an_option_that_does_not_exist():
    def sweep(grid="quick"):
        """Search the steps, up to `extend` spacings beyond; see --grid, --extend and run --runs.

        Args:
            grid: quick or paper.
        """

    def run(runs=1):
        """Run."""

    assert unknown_names({"sweep": sweep, "run": run}, "sweep") == ["--extend", "`extend`"]


def test_help_into_a_reader_that_stops_early_ends_without_a_traceback(tmp_path):
    process = start_script("mc_training.py", "run", "--help", cwd=tmp_path)
    process.stdout.close()  # like `--help | head -c 0`: the reader is gone before the help is written
    stderr = process.stderr.read()
    assert process.wait(timeout=HANG_GUARD_S) == 141 and stderr == ""


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


def ignores_sigint(pid):
    """Whether the process ``pid`` ignores SIGINT now (/proc/PID/status, SigIgn: a mask of signals,
    bit SIGINT - 1): the command does so only while it starts its worker processes
    (``kinks.parallel.sigint_ignored``), and a Ctrl-C in that moment is lost."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    return bool(mask >> (signal.SIGINT - 1) & 1)


LEAK_A_SEMAPHORE = ("from joblib.externals.loky.backend import resource_tracker\n"
                    "def leak():\n    resource_tracker.register('/kinks-test-{}', 'semlock')\n")


@pytest.mark.parametrize("through_run_cli", [True, False])
def test_joblibs_resource_tracker_removes_leftover_semaphores_quietly(through_run_cli):
    """The workers killed after Ctrl-C or SIGTERM leave semaphores to joblib's resource tracker, a
    process of its own that writes on the command's stderr at a time of its own, after the command's
    last line. Under run_cli it removes them without a word; a name that no process unregisters
    stands for them here (and, outside run_cli, shows that the tracker would speak)."""
    code = LEAK_A_SEMAPHORE.format(os.getpid()) + ("import sys, utils; sys.argv = ['leak.py', 'leak']; "
                                                   "utils.run_cli({'leak': leak})" if through_run_cli else "leak()")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=HANG_GUARD_S)
    assert result.returncode == 0
    assert ("leaked semlock" in result.stderr) is not through_run_cli, result.stderr


@pytest.mark.slow
def test_sigterm_to_the_command_alone_exits_143_and_leaves_no_process(tmp_path):
    """``kill PID`` (or a batch system ending the job) signals the command only: it stops its loky
    workers as after Ctrl-C, which would otherwise outlive it at work on the chunks sent to them.
    The run's chunks are held (``gates``), so it is still running when the signal comes."""
    out, gate = tmp_path / "run", tmp_path / "gate"
    gate.mkdir()
    process = start_script("tests/gated_run.py", gate, 0, "run", "--widths", "16", "--runs", "200", "--chunk_size",
                           "100", "--jobs", "2", "--out", str(out), cwd=tmp_path, start_new_session=True)
    wait_for(lambda: held_chunks(gate) or process.poll() is not None, "a worker inside a chunk")
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == utils.INTERRUPTED and "Traceback" not in stderr
    wait_for(lambda: not process_group_alive(process.pid), "every process of the group to end")


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["workers started", "worker inside a chunk"])  # importing, and training
def test_ctrl_c_prints_one_line_exits_130_and_leaves_no_process(tmp_path, moment):
    """Ctrl-C in a terminal signals the whole process group: the command and its loky workers. The
    run's chunks are held (``gates``), so it is still running whenever the Ctrl-C comes; the Ctrl-C
    comes once the command has started its workers and handles SIGINT again."""
    out, gate = tmp_path / "run", tmp_path / "gate"
    gate.mkdir()
    process = start_script("tests/gated_run.py", gate, 0, "run", "--widths", "16", "--runs", "200", "--chunk_size",
                           "100", "--jobs", "2", "--out", str(out), cwd=tmp_path, start_new_session=True,
                           preexec_fn=like_a_terminal)
    started = (lambda: held_chunks(gate)) if moment == "worker inside a chunk" \
        else (lambda: workers_started(process.pid))
    wait_for(lambda: started() or process.poll() is not None, moment)
    wait_for(lambda: process.poll() is not None or not ignores_sigint(process.pid), "the command to handle SIGINT")
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == utils.INTERRUPTED
    assert "Traceback" not in stderr and "leaked" not in stderr
    wait_for(lambda: not process_group_alive(process.pid), "every process of the group to end")  # no worker, no tracker
    # rerunning the same command resumes: the run folder is consistent
    assert summarize(out)
