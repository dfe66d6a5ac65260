"""Shared test set-up: the repository root on sys.path, the ways a test runs a script as a user
types it (as a process: ``start_script``, ``run_script``; in this process, faster:
``call_script``), waiting for an event (``wait_for``), and two markers.

No verdict depends on time: a test that acts while a process runs waits for an event (a file, a
line, a process state), never for a while, and the runs it interrupts are held at a chosen chunk
(``tests/gates.py``). ``HANG_GUARD_S`` bounds every wait only so that a hang fails instead of
stalling the suite; no wait that passes comes near it.

- ``slow``: a test that takes seconds (trains many networks, starts worker pools or
  subprocesses). ``pytest -m "not slow"`` is the quick subset for development (under a minute);
  the README's test command runs everything.
- ``cuda``: needs a CUDA device; skipped with the reason where torch finds none (always in CI).
  ``pytest -m cuda`` runs only these tests (gpu_check.sh does so on a GPU machine).
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HANG_GUARD_S = 600  # the longest any wait of a test may take: reached only by a hang


def wait_for(condition, what):
    """Return once ``condition()`` holds, looking every 10 ms; fail naming ``what`` after
    ``HANG_GUARD_S`` (a hang)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"hung: waited {HANG_GUARD_S} s for {what}"
        time.sleep(0.01)


def script_env(cwd, env=None):
    """The environment of a script run by a test: this one (or ``env``), with the results root
    (``KINKS_RESULTS``) inside ``cwd``, so that nothing is written into the repository."""
    return {**(os.environ if env is None else env), "KINKS_RESULTS": str(Path(cwd) / "results")}


def start_script(script, *args, cwd=ROOT, env=None, **popen):
    """``python SCRIPT args...`` started in ``cwd`` as a Popen with text stdout and stderr pipes."""
    return subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd,
                            env=script_env(cwd, env), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)


def run_script(script, *args, cwd=ROOT, env=None, timeout=HANG_GUARD_S):
    """``python SCRIPT args...`` run to its end in ``cwd``: a CompletedProcess with text output."""
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd,
                          env=script_env(cwd, env), capture_output=True, text=True, timeout=timeout)


TQDM_LINE = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")  # a progress bar, which tqdm writes on stderr


def call_script(monkeypatch, capsys, module, script, *argv):
    """``python SCRIPT argv...`` run in this process as its ``__main__`` does, through the
    script's ``main()`` (which the console script of the same name calls): (exit code, stdout, the
    stderr lines other than progress bars)."""
    monkeypatch.setattr(sys, "argv", [script, *map(str, argv)])
    code = 0
    try:
        module.main()
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip() and not TQDM_LINE.search(line)]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes seconds; left out by -m 'not slow'")
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped with the reason where torch finds none")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    from kinks.nets import cuda_absence

    skip = pytest.mark.skip(reason=f"needs CUDA: {cuda_absence()}")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
