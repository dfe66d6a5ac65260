"""Tests of kinks.mc.study: the configuration of a study from its options (presets, sgd as gd with
batch 16, the certificate refused where it does not apply)."""
from pathlib import Path

import numpy as np
import pytest

import mc_training
from kinks.checks import UsageError
from kinks.files import load_npz
from kinks.mc.optimizers import LARGEST_BATCH
from kinks.mc.study import check_batch_size, make_config
from mc_checks import assert_examples_hold


def test_sufficient_refused_with_leak():
    with pytest.raises(UsageError, match="--stopping sufficient needs .* --leak 0"):
        make_config(leak=0.1, stopping="crossing,sufficient")
    assert make_config(leak=0.1)["stopping"] == ["crossing", "early"]


def test_sgd_is_gd_with_batch_16(tmp_path):
    settings = dict(widths=[16], runs=40, offsets=[0.0], max_checks=3, epochs_per_check=100, jobs=1,
                    stopping="crossing,early")
    chunks = []
    for name, options in (("sgd", dict(optimizer="sgd")), ("gd16", dict(optimizer="gd", batch_size=16))):
        run_dir = Path(mc_training.run(**settings, **options, out=tmp_path / name))
        chunks.append(load_npz(next(run_dir.rglob("chunk_*.npz"))))
    for key in ("status", "stop_epoch", "first_cross_epoch"):
        np.testing.assert_array_equal(chunks[0][key], chunks[1][key])
    assert make_config(optimizer="adam", batch_size=16)["engine"] == "dense"
    assert make_config(optimizer="momentum", batch_size=4)["engine"] == "reduced"


def test_paper_presets_are_todays_sgd_and_swapped_runs():
    """paper_sgd and paper_swapped are the configurations (hence the chunks) of the earlier commands."""
    assert make_config("paper_sgd") == make_config("paper", optimizer="sgd", step="small")
    assert make_config("paper_swapped") == make_config("paper", init="swapped")
    assert make_config("paper_adam") == make_config("paper", optimizer="adam", batch_size=16, step="small")
    adam = make_config("paper_adam")
    assert (adam["optimizer"], adam["batch_size"], adam["step"], adam["stopping"]) == \
        ("adam", 16, "small", ["crossing", "early"])


def test_the_example_of_make_config_holds():
    assert_examples_hold(make_config)


def test_batch_size_is_at_most_the_largest_the_loops_keep():
    """A block's draws take 64 (B + 1) numbers of scratch, so B is at most LARGEST_BATCH; beyond it
    one clear line (full batch is --batch_size full)."""
    assert check_batch_size("gd", LARGEST_BATCH) == LARGEST_BATCH
    with pytest.raises(UsageError, match="--batch_size must be an integer >= 1 \\(at most 65536"):
        check_batch_size("adam", LARGEST_BATCH + 1)
