"""A test-only command line: ``python tests/gated_star_run.py GATE COMMAND [--option VALUE ...]``
runs the ``train_star_dataset.py`` command as the script does, except that once its first
checkpoint is written (``TrainingState.save``) the process says so by the file GATE/held and waits
until it is interrupted or killed. The Ctrl-C test of the star engines uses it to interrupt a run
right after a chosen checkpoint, however fast the run is; the folder is the one
``train_star_dataset.py`` with the same options writes."""
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train_star_dataset  # noqa: E402
from kinks.star.state import TrainingState  # noqa: E402


def held_after_saving(gate, save):
    """``save`` (``TrainingState.save``) followed by the file GATE/held and a wait without end."""
    def save_and_hold(state, folder):
        save(state, folder)
        Path(gate, "held").touch()
        threading.Event().wait()
    return save_and_hold


if __name__ == "__main__":
    gate = sys.argv[1]
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    TrainingState.save = held_after_saving(gate, TrainingState.save)
    train_star_dataset.main()
