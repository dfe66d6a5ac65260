"""Tests of the star study's inputs beyond the paper: --samples (the data weights p = Multinomial(N,
pi) / N, or p = pi) and one's own data (--data FILE, --probs): a CSV of a built-in set trains to the
built-in set's result and thresholds, the thresholds on arbitrary data, the records in the
configuration (read back, refused on resume when changed, shown in folder names and report labels),
every bad input refused in one line with exit 2 and nothing written, and the compiled engine on
one's own data against the torch epochs. Tiny sizes throughout."""
import json
import shutil

import numpy as np
import pytest
import torch

import train_star_dataset
from conftest import call_script
from kinks.checks import UsageError
from kinks.samples import sample_weights
from kinks.star import data as sd
from kinks.star import reduced, training
from kinks.star.config import StarConfig, preset_configs
from kinks.star.report import series_key, series_label
from kinks.star.state import FIRST_EPOCHS, TrainingState

CPU = torch.device("cpu")
DATASETS = ("standard", "cross", "star_7", "random_with_line", "multi_axis_3")
TINY = ["--width", 4, "--runs", 3, "--epochs", 200, "--dtype", "float64", "--engine", "torch", "--device", "cpu"]
TINY_LABEL = "L1_n4_P3_relu_zerobias_gram-lr1_seed0_float64"     # the default label, also for own data


def write_csv(path, X, y, header=True):
    """X (m, d) and y (m,) as the CSV rows x1,...,xd,y (repr: exact), with a header line or without."""
    lines = [",".join([*(f"x{k + 1}" for k in range(X.shape[1])), "y"])] if header else []
    lines += [",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y])]
    path.write_text("\n".join(lines) + "\n")
    return path


def star(monkeypatch, capsys, folder, *argv):
    """train_star_dataset.py argv... run in this process from ``folder`` (results below it)."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("KINKS_RESULTS", str(folder / "results"))
    return call_script(monkeypatch, capsys, train_star_dataset, "train_star_dataset.py", *argv)


def own(X, y, probs=None, name="own.csv"):
    """A DataFile of X, y with probabilities ``probs`` (default uniform)."""
    return sd.DataFile(name, X, y, np.full(len(y), 1.0 / len(y)) if probs is None else probs)


# ----------------------------------------------------------------------------- one's own data
def test_a_csv_of_a_built_in_set_trains_to_the_built_in_result(monkeypatch, capsys, tmp_path):
    X, y = sd.make_data("star_7")
    write_csv(tmp_path / "star7.csv", X, y)
    assert star(monkeypatch, capsys, tmp_path, "train", "--data", "star7.csv", *TINY)[0] == 0
    assert star(monkeypatch, capsys, tmp_path, "train", "--dataset", "star_7", *TINY)[0] == 0
    own_result, built_in = (json.loads((tmp_path / "results/star" / name / TINY_LABEL / "result.json").read_text())
                            for name in ("file_star7", "star_7"))
    assert {key for key in built_in if own_result[key] != built_in[key]} == {"config"}
    assert own_result["config"]["data"].startswith("star7.csv#") and own_result["config"]["points"]["y"] == y.tolist()
    assert built_in["config"]["data"] is None and built_in["config"]["samples"] == "n^2"


@pytest.mark.parametrize("dataset", DATASETS)
def test_thresholds_of_a_csv_of_a_built_in_set_are_identical(tmp_path, dataset):
    X, y = sd.make_data(dataset)
    data = sd.read_data_file(str(write_csv(tmp_path / "set.csv", X, y, header=False)))
    assert np.array_equal(data.X, X) and np.array_equal(data.y, y)
    assert all(a.flags.c_contiguous for a in (data.X, data.y, data.probs))   # the compiled loops' layout
    p = sample_weights(np.random.default_rng(0), 50, 16, len(y))
    assert np.array_equal(sd.regression_thresholds(data.X, data.y, p), sd.regression_thresholds(X, y, p))
    built_in, from_file = (TrainingState.initial(StarConfig(name, 4, runs=5, dtype="float64", data=file), CPU)
                           for name, file in ((dataset, None), (None, data)))
    assert torch.equal(built_in.threshold, from_file.threshold) and torch.equal(built_in.p, from_file.p)


def direct_thresholds(X, y, p):
    """1/2 sum over rays of >= 3 points of the weighted least-squares residual of y ~ alpha |x| + beta,
    by lstsq on sqrt(p)-scaled rows."""
    radius, total = np.linalg.norm(X, axis=1), np.zeros(len(p))
    for group in sd.ray_groups(X):
        if len(group) >= 3:
            for k, weights in enumerate(np.sqrt(p[:, group])):
                A = weights[:, None] * np.stack([radius[group], np.ones(len(group))], 1)
                coef = np.linalg.lstsq(A, weights * y[group], rcond=None)[0]
                total[k] += np.sum((A @ coef - weights * y[group]) ** 2)
    return 0.5 * total


def test_thresholds_of_arbitrary_data_are_least_squares_per_ray_and_scale_free():
    """Rays in 3-D in any order, a repeated point, three points at the origin (a group of their own):
    the closed form equals lstsq, scaling x leaves the thresholds and scaling y by c multiplies them
    by c^2, also at scales where a test against an absolute 1e-14 would call every ray degenerate."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal((3, 3))
    X = np.concatenate([np.outer(rng.uniform(0.5, 2, 5), u[k]) for k in range(3)] + [np.zeros((3, 3))])
    X = np.concatenate([X, X[:1]])[rng.permutation(19)]
    y, p = rng.standard_normal(19), sample_weights(rng, 40, 50, 19)
    expected = direct_thresholds(X, y, p)
    np.testing.assert_allclose(sd.regression_thresholds(X, y, p), expected, rtol=1e-10, atol=1e-14)
    assert len(sd.ray_groups(X)) == 4 and (expected > 0).all()
    np.testing.assert_allclose(sd.regression_thresholds(1e-9 * X, 3 * y, p), 9 * expected, rtol=1e-8)


def test_a_data_file_is_read_with_or_without_header_and_named_by_its_content(tmp_path):
    X, y = np.array([[1.0], [2.0], [-1.5]]), np.array([0.5, -1.0, 2.0])
    plain = sd.read_data_file(write_csv(tmp_path / "a.csv", X, y, header=False), "0.2,0.3,0.5")
    headed = sd.read_data_file(str(write_csv(tmp_path / "a.csv", X, y)), (0.2, 0.3, 0.5))
    assert plain.identity == headed.identity and plain.dataset == "file_a" and plain.probs.tolist() == [0.2, 0.3, 0.5]
    assert sd.read_data_file(tmp_path / "a.csv").identity != plain.identity        # pi is part of the content
    assert sd.DataFile.from_record(plain.identity, json.loads(json.dumps(plain.record()))).identity == plain.identity
    with pytest.raises(ValueError, match="do not match"):
        sd.DataFile.from_record(plain.identity, {**plain.record(), "y": [0.5, -1.0, 2.5]})


# ----------------------------------------------------------------------------- --samples
def test_samples_population_gives_p_equal_to_pi_and_an_integer_n_gives_counts_of_n():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    data = own(np.array([[1.0, 0], [2, 0], [0, 1], [0, 2]]), np.array([1.0, -1, 2, 0]), probs)
    population = TrainingState.initial(StarConfig(width=4, runs=6, samples="population", data=data), CPU)
    assert np.array_equal(population.p.double().numpy(), np.tile(probs, (6, 1)).astype(np.float32))
    fixed = TrainingState.initial(StarConfig("cross", width=4, runs=6, samples=7, dtype="float64"), CPU).p.numpy()
    assert np.allclose(fixed * 7, np.round(fixed * 7)) and np.allclose(fixed.sum(1), 1)
    assert not (fixed == fixed[0]).all()
    default = TrainingState.initial(StarConfig("cross", width=4, runs=6, dtype="float64"), CPU).p.numpy()
    assert np.array_equal(default, sample_weights(np.random.default_rng(np.random.SeedSequence(0)), 6, 16, 12))


def test_settings_are_in_folder_names_labels_and_older_files():
    config = StarConfig("cross", width=8, runs=5)
    assert config.label() == "L1_n8_P5_relu_zerobias_gram-lr1_seed0_float32"           # unchanged by default
    assert config.replace(samples="population").label() == config.label() + "_samples_population"
    assert config.replace(samples="n^1.5").label() == config.label() + "_samples_n1.5"
    older = {k: v for k, v in config.as_dict().items() if k not in ("samples", "data")}
    assert StarConfig.from_dict(older) == config
    data = own(np.array([[1.0], [2.0]]), np.array([0.0, 1.0]), name="my data.csv")
    mine = StarConfig(width=8, runs=5, samples=100, data=data)
    assert mine.dataset == "file_my_data" and StarConfig.from_dict(json.loads(json.dumps(mine.as_dict()))) == mine
    assert mine.replace(seed=1).training_data()[1].tolist() == [0.0, 1.0]
    assert series_label(series_key(mine)) == f"{data.identity}, gram step, N = 100"
    assert series_label(series_key(config.replace(samples="population"))) == "cross, gram step, p = pi"
    with pytest.raises(ValueError, match="not those of this version"):
        StarConfig.from_dict({k: v for k, v in mine.as_dict().items() if k != "points"})
    with pytest.raises(UsageError, match="exclude each other"):
        StarConfig("cross", data=data)


def test_experiments_take_the_preset_grid_on_own_data():
    data = own(np.array([[1.0], [2.0], [-1.0]]), np.array([0.0, 1.0, 2.0]))
    configs = preset_configs("quick", data=data, samples="population")
    assert [c.width for c in configs] == [16, 64, 256, 1024]
    assert {(c.dataset, c.data, c.samples) for c in configs} == {("file_own", data.identity, "population")}


# ----------------------------------------------------------------------------- resuming
def test_resume_refuses_a_changed_data_file_and_changed_samples(monkeypatch, capsys, tmp_path):
    X, y = sd.make_data("cross")
    write_csv(tmp_path / "cross.csv", X, y)
    tiny = [*TINY[:4], "--epochs", 20, *TINY[6:]]
    assert star(monkeypatch, capsys, tmp_path, "train", "--data", "cross.csv", *tiny)[0] == 0
    write_csv(tmp_path / "cross.csv", X, y + 1)
    code, _, err = star(monkeypatch, capsys, tmp_path, "train", "--data", "cross.csv", *TINY)
    assert code == 2 and len(err) == 1 and "holds a different configuration (data cross.csv#" in err[0], err
    assert star(monkeypatch, capsys, tmp_path, "train", "--dataset", "cross", "--samples", 100, *tiny)[0] == 0
    parent = tmp_path / "results/star/cross"
    shutil.move(parent / (TINY_LABEL + "_samples_100"), parent / TINY_LABEL)   # a folder of N = 100 as n^2's
    code, _, err = star(monkeypatch, capsys, tmp_path, "train", "--dataset", "cross", *tiny)
    assert code == 2 and len(err) == 1 and "(samples n^2 here, 100 there)" in err[0], err



# ----------------------------------------------------------------------------- bad input
GOOD = "x1,x2,y\n1,0,1\n2,0,-1\n0,1,2\n"
BAD_FILES = {  # name: (file contents, or None for no file, a piece of the message)
    "missing": (None, "no file"),
    "ragged": ("1,0,1\n2,0\n0,1,2\n", "must have 3 values"),
    "non-numeric": ("1,0,1\n2,zero,-1\n", "'zero', which is no number"),
    "one row": ("x,y\n1,2\n", "at least 2 rows"),
    "header only": ("x,y\n", "at least 2 rows"),
    "empty": ("", "at least 2 rows"),
    "one column": ("1\n2\n3\n", "d >= 1"),
    "nan": ("1,0,1\n2,0,nan\n", "finite"),
    "inf": ("1,0,1\ninf,0,2\n", "finite"),
    "huge": ("1,0,1\n1e300,0,2\n", "finite"),
    "not text": (b"\xff\xfe\x00\x01,2\n", "cannot read"),
}
BAD_OPTIONS = {  # name: (extra options with GOOD as --data (or without it), the option named)
    "probs too few": (["--probs", "0.5,0.5"], "--probs must give one probability per data point (3)"),
    "probs negative": (["--probs", "-0.5,0.5,1"], "--probs must be positive"),
    "probs not summing to 1": (["--probs", "0.2,0.2,0.2"], "--probs must sum to 1"),
    "probs no numbers": (["--probs", "a,b,c"], "--probs must be numbers"),
    "samples": (["--samples", "n^-1"], "--samples"),
    "--data and --dataset": (["--dataset", "cross"], "--dataset and --data exclude each other"),
}


def refused(monkeypatch, capsys, tmp_path, argv):
    """Run ``argv`` from an empty folder: exit 2, one line naming what is wrong, nothing written."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    code, out, err = star(monkeypatch, capsys, folder, *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], (out, err)
    assert not any(folder.iterdir()), sorted(folder.rglob("*"))
    return err[0]


@pytest.mark.parametrize("command", ["train", "experiments"])
@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_data_file_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, command, case):
    contents, message = BAD_FILES[case]
    path = tmp_path / "data.csv"
    if contents is not None:
        path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
    error = refused(monkeypatch, capsys, tmp_path, [command, "--data", path, "--device", "cpu"])
    assert error.startswith("error: --data") and message in error, error


@pytest.mark.parametrize("command,case", [(command, case) for command in ("train", "experiments")
                                          for case in BAD_OPTIONS if command == "train" or "--dataset" not in case])
def test_bad_probs_samples_and_both_data_options_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path, command,
                                                                          case):
    options, message = BAD_OPTIONS[case]
    (tmp_path / "data.csv").write_text(GOOD)
    error = refused(monkeypatch, capsys, tmp_path, [command, "--data", tmp_path / "data.csv", *options,
                                                    "--device", "cpu"])
    assert message in error, error


def test_probs_need_data(monkeypatch, capsys, tmp_path):
    assert "--probs needs --data" in refused(monkeypatch, capsys, tmp_path, ["train", "--probs", "0.5,0.5"])


# ----------------------------------------------------------------------------- the compiled engine
def test_compiled_engine_on_own_data_records_what_the_torch_epochs_record(tmp_path):
    """Own data (three rays of three points, random targets, non-uniform pi, N = 50) from a CSV: the
    compiled engine's tasks carry its arrays, and its first epochs equal the torch float64 epochs'.
    In 2-D, for which the other tests compile the loops already (a dimension costs a compilation)."""
    rng = np.random.default_rng(23)   # 7 of 8 kinks and 3 of 8 losses cross by 2000
    X = (rng.uniform(0.5, 2, (3, 3, 1)) * rng.standard_normal((3, 1, 2))).reshape(9, 2)
    y = rng.standard_normal(9)
    probs = rng.dirichlet(np.ones(9))
    data = sd.read_data_file(write_csv(tmp_path / "own.csv", X, y), ",".join(map(repr, probs.tolist())))
    config = StarConfig(width=6, runs=8, random_bias=True, dtype="float64", samples=50, data=data)
    states = [TrainingState.initial(config, CPU) for _ in range(2)]
    task = reduced.chunk_tasks(states[1], 0, states[1].params, 10, 5, False)[0]
    assert np.array_equal(task["X1"][:, :2], X) and np.array_equal(task["y"], y)
    states[1].engine = "compiled"
    for epochs in (300, 2000):   # parameters compared early, before round-off grows after crossings
        training.train_epochs(states[0], training.epoch_data(states[0], CPU), epochs, 100)
        reduced.advance(states[1], epochs, 100)
        if epochs == 300:
            for A, B in zip(states[0].params, states[1].params):
                torch.testing.assert_close(A, B, rtol=1e-8, atol=1e-10)
    for key in FIRST_EPOCHS:
        assert torch.equal(getattr(states[0], key), getattr(states[1], key)), key
    assert (states[0].kink_epoch >= 0).any() and (states[0].loss_epoch >= 0).any()
