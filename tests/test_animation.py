"""Tests of kinks.animation, kinks.mc.animation and kinks.star.animation: log-spaced snapshot epochs,
the stayed and crossed pair (its kinks in and out of the gap, checked directly), and the GIFs of
both commands (frame count, size, a refusal in one line)."""
import numpy as np
import pytest
from PIL import Image

import mc_plotting
import train_star_dataset
from conftest import call_script
from kinks.animation import snapshot_epochs
from kinks.mc.animation import stayed_and_crossed
from kinks.mc.data import DataSet


def test_snapshot_epochs_are_log_spaced_from_zero():
    epochs = snapshot_epochs(20_000, 60)
    assert epochs[0] == 0 and epochs[-1] == 20_000 and np.all(np.diff(epochs) > 0) and 40 <= len(epochs) <= 60
    ratios = epochs[-10:][1:] / epochs[-10:][:-1]
    np.testing.assert_allclose(ratios, ratios.mean(), rtol=0.05)


def test_the_pair_holds_one_network_that_stayed_and_one_that_crossed():
    run = stayed_and_crossed(DataSet(), 16, 3000, 10, "gd", 0.0, "theory", 0)
    (x_left, x_right), last = run["gap"], [net[-1] for net in run["params"]]
    kinks = [-b / a for a, b, c, w in last]
    assert np.all((kinks[0] > -x_left) & (kinks[0] < x_right))  # stayed put
    assert np.any((kinks[1] <= -x_left) | (kinks[1] >= x_right)) and run["first"][1] > 0
    assert run["loss"].shape == (len(run["epochs"]), 2) and np.all(run["loss"] > 0)


@pytest.mark.slow
def test_both_commands_write_small_gifs(tmp_path, monkeypatch, capsys):
    code, out, err = call_script(monkeypatch, capsys, mc_plotting, "mc_plotting.py", "animate", "--epochs", "2000",
                                 "--frames", "6", "--optimizer", "momentum", "--leak", "0.1", "--out", tmp_path)
    assert code == 0, err
    code, out, err = call_script(monkeypatch, capsys, train_star_dataset, "train_star_dataset.py", "animate",
                                 "--epochs", "300", "--frames", "5", "--width", "8", "--out", tmp_path)
    assert code == 0, err
    for name in ("animate.gif", "animate_cross.gif"):
        with Image.open(tmp_path / name) as gif:
            assert gif.n_frames >= 4
        assert (tmp_path / name).stat().st_size < 3_000_000
    code, out, err = call_script(monkeypatch, capsys, mc_plotting, "mc_plotting.py", "animate", "--frames", "1000")
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --frames")
