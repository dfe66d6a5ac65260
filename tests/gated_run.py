"""A test-only command line: ``python tests/gated_run.py GATE PASSING COMMAND [--option VALUE ...]``
runs the ``mc_training.py`` command as the script does (``utils.run_cli``), its chunks computed by
``gates.held_after(GATE, PASSING)``: after the first PASSING chunks of a process, each chunk is held
until the process is killed or interrupted. The tests that kill or interrupt a run use it to act
at a chosen chunk; the run folder is the one ``mc_training.py`` with the same options writes."""
import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gates  # noqa: E402
import mc_training  # noqa: E402
import utils  # noqa: E402
from kinks.mc.runner import run_chunks  # noqa: E402

if __name__ == "__main__":
    gate, passing = sys.argv[1], int(sys.argv[2])
    sys.argv = [sys.argv[0], *sys.argv[3:]]
    mc_training.run_chunks = functools.partial(run_chunks, simulate=functools.partial(gates.held_after, gate, passing))
    utils.run_cli(mc_training.COMMANDS, mc_training.ALIASES)
