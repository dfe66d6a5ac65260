"""The command lines of the four PyTorch scripts as a hurried user types them: bad values (one line,
exit 2, nothing written), old option names and old option values (accepted with one warning line,
the same result as the new ones), misspelled options, a different configuration in a folder, and
--help documenting every option. Most run in this process (conftest's ``call_script``); a
few run the script itself (``run_script``)."""
import json
from types import SimpleNamespace

import pytest
import torch

import eval_nn_setups
import eval_star_dataset
import run_nn_setups as rn
import train_star_dataset as ts
import utils
from conftest import call_script, run_script
from kinks.star import training
from kinks.star.config import preset_configs
from kinks.sweeps.grid import read_result

SCRIPTS = {"train_star_dataset.py": ts, "eval_star_dataset.py": eval_star_dataset, "run_nn_setups.py": rn,
           "eval_nn_setups.py": eval_nn_setups}


def cli(monkeypatch, capsys, script, *argv):
    """``script argv...`` run in this process (see conftest's ``call_script``)."""
    return call_script(monkeypatch, capsys, SCRIPTS[script], script, *argv)


def assert_one_error_line(code, err, message):
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


# ----------------------------------------------------------------------------- every script
@pytest.mark.parametrize("script", SCRIPTS)
def test_help_documents_every_option_of_every_command(script):
    for name, function in SCRIPTS[script].COMMANDS.items():
        text = utils.command_help(script, name, function)
        assert "(not documented)" not in text, (script, name)
        assert set(utils.docstring_sections(function)[1]) == set(utils.command_options(function)), (script, name)


@pytest.mark.parametrize("script, argv, suggestion", [
    ("train_star_dataset.py", ["train", "--widht", "8"], "--width"),
    ("eval_star_dataset.py", ["report", "--epoch", "8"], "--epochs"),
    ("run_nn_setups.py", ["fit", "--optimzer", "adam"], "--optimizer"),
    ("eval_nn_setups.py", ["figures", "--relative", "best"], "--relative_to"),
])
def test_misspelled_option_names_the_closest(monkeypatch, capsys, tmp_path, script, argv, suggestion):
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path))
    code, _, err = cli(monkeypatch, capsys, script, *argv)
    assert_one_error_line(code, err, f"did you mean {suggestion}?")
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- train_star_dataset.py
@pytest.mark.parametrize("args,message", [
    (["--dataset", "circle"], "--dataset must be one of"),
    (["--activation", "sigmoid"], "--activation must be one of relu, tanh"),
    (["--width", "0"], "--width must be an integer >= 1"),
    (["--runs", "-3"], "--runs must be an integer >= 1"),
    (["--step", "adam"], "--step must be one of gram, published"),
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    (["--lr_factor", "0"], "--lr_factor must be a finite number > 0"),
    (["--dtype", "float16"], "--dtype must be one of"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:K"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, args, message):
    code, _, err = cli(monkeypatch, capsys, "train_star_dataset.py", "train", *args, "--results", tmp_path)
    assert_one_error_line(code, err, message)
    assert not (tmp_path / "star").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_asked_for_but_absent(monkeypatch, capsys, tmp_path):
    code, _, err = cli(monkeypatch, capsys, "train_star_dataset.py", "train", "--device", "cuda", "--results", tmp_path)
    assert_one_error_line(code, err, "CUDA is not available")


def star_train(monkeypatch, capsys, results, *args, epochs=3):
    return cli(monkeypatch, capsys, "train_star_dataset.py", "train", "--dataset", "standard", "--width", 4,
               "--epochs", epochs, "--device", "cpu", "--results", results, *args)


def test_old_option_n_networks_still_works_with_a_warning(monkeypatch, capsys, tmp_path):
    code, _, err = star_train(monkeypatch, capsys, tmp_path, "--n_networks", 2)
    assert code == 0 and err == ["warning: --n_networks is deprecated for train; use --runs"]
    assert json.loads(next((tmp_path / "star" / "standard").glob("*/config.json")).read_text())["runs"] == 2


def test_old_step_rule_ntk_gives_one_warning_and_the_gram_result(monkeypatch, capsys, tmp_path):
    code, _, err = star_train(monkeypatch, capsys, tmp_path / "old", "--runs", 3, "--step", "ntk")
    assert code == 0 and err == ["warning: --step ntk is deprecated; use --step gram"]
    code, _, err = star_train(monkeypatch, capsys, tmp_path / "new", "--runs", 3, "--step", "gram")
    assert code == 0 and err == []
    old, new = (next((tmp_path / root / "star" / "standard").glob("*_gram-lr1_*")) for root in ("old", "new"))
    assert (old / "result.json").read_text() == (new / "result.json").read_text()


def test_a_different_configuration_is_refused(monkeypatch, capsys, tmp_path):
    assert star_train(monkeypatch, capsys, tmp_path, "--runs", 3)[0] == 0
    folder = next((tmp_path / "star" / "standard").iterdir())
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "seed": 7}))
    before = (folder / "state.pt").read_bytes()
    code, _, err = star_train(monkeypatch, capsys, tmp_path, "--runs", 3, epochs=9)
    assert_one_error_line(code, err, "different configuration")
    assert (folder / "state.pt").read_bytes() == before


def test_old_preset_names_give_one_warning_and_the_same_configurations(monkeypatch, capsys, tmp_path):
    trained = []
    monkeypatch.setattr(training, "train", lambda config, stage, device, results, **engine_options: (
        trained.append((config, stage)) or (None, SimpleNamespace(summary=lambda: "stub"))))
    code, _, err = cli(monkeypatch, capsys, "train_star_dataset.py", "experiments", "--preset", "paper_deep_ntk",
                       "--max_epochs", 5, "--device", "cpu")
    assert code == 0 and err == ["warning: --preset paper_deep_ntk is deprecated; use --preset paper_deep_gram"]
    assert trained == [(config, 5) for config in preset_configs("paper_deep_gram")]


@pytest.mark.slow
def test_experiments_run_every_configuration_of_a_preset(tmp_path, capsys):
    ts.experiments("quick", device="cpu", results=tmp_path, max_epochs=3)
    folders = sorted((tmp_path / "star").glob("*/*"))
    assert len(folders) == len(preset_configs("quick")) == 8
    assert all(json.loads((f / "result.json").read_text())["epoch"] == 3 for f in folders)
    assert capsys.readouterr().out.count("epoch 3:") == 8


@pytest.mark.slow
def test_the_script_itself_warns_once_for_an_old_value(tmp_path):
    result = run_script("train_star_dataset.py", "train", "--dataset", "standard", "--width", 4, "--runs", 2,
                        "--epochs", 2, "--step", "ntk", "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0 and "_gram-lr1_" in result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith(("warning", "error", "Traceback"))] == [
        "warning: --step ntk is deprecated; use --step gram"]


# ----------------------------------------------------------------------------- eval_star_dataset.py
@pytest.mark.parametrize("args,message", [
    (["--compile", "maybe"], "--compile must be one of"),
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    (["--select", "seed"], "--select takes key=value pairs"),
    ([], "no star-data-set results"),
])
def test_report_bad_input(monkeypatch, capsys, tmp_path, args, message):
    code, _, err = cli(monkeypatch, capsys, "eval_star_dataset.py", "report", "--results", tmp_path, *args)
    assert_one_error_line(code, err, message)


# ----------------------------------------------------------------------------- run_nn_setups.py
@pytest.mark.parametrize("argv, message", [
    (["fit", "--dataset", "spiral"], "--dataset must be"),
    (["fit", "--optimizer", "rmsprop"], "--optimizer must be one of sgd, momentum, adam"),
    (["fit", "--param", "mup"], "--param must be one of"),
    (["fit", "--bias", "kinky"], "--bias must be one of"),
    (["fit", "--bias", "kink-neg-point", "--bias_gain", "2"], "--bias_gain must be 1"),
    (["fit", "--batch_size", "100"], "--batch_size must divide n_train"),
    (["sweep", "--grid", "huge"], "--grid must be one of"),
    (["sweep", "--biases", "zero,nope"], "--biases must be one of"),
    (["sweep", "--runs", "0"], "--runs must be an integer >= 1"),
    (["sweep", "--runs", "-3"], "--runs must be an integer >= 1"),
    (["sweep", "--jobs", "0"], "--jobs must be"),
    (["benchmark", "--optimizer", "lbfgs"], "--optimizer must be one of"),
])
def test_bad_input_gives_one_line_and_exit_2(monkeypatch, capsys, tmp_path, argv, message):
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path))
    code, _, err = cli(monkeypatch, capsys, "run_nn_setups.py", *argv)
    assert_one_error_line(code, err, message)
    assert not any(tmp_path.iterdir())  # nothing written


FIT = ("fit", "--dataset", "radial_1", "--width", 8, "--epoch_budget", 2, "--valid_budget", 2, "--n_valid", 16,
       "--n_test", 16, "--device", "cpu")


def test_old_option_spellings_still_work_with_a_warning(monkeypatch, capsys, tmp_path):
    code, _, err = cli(monkeypatch, capsys, "run_nn_setups.py", *FIT, "--optimiser", "sgd", "--n_networks", 2,
                       "--out", tmp_path / "fit.json")
    assert code == 0 and err == ["warning: --optimiser is deprecated for fit; use --optimizer",
                                 "warning: --n_networks is deprecated for fit; use --runs"]
    task = read_result(tmp_path / "fit.json")["task"]
    assert task["optimizer"] == "sgd" and task["runs"] == 2


def test_old_optimizer_name_gives_one_warning_and_the_momentum_result(monkeypatch, capsys, tmp_path):
    code, _, err = cli(monkeypatch, capsys, "run_nn_setups.py", *FIT, "--runs", 2, "--optimizer", "sgd-momentum",
                       "--out", tmp_path / "old.json")
    assert code == 0 and err == ["warning: --optimizer sgd-momentum is deprecated; use --optimizer momentum"]
    code, _, err = cli(monkeypatch, capsys, "run_nn_setups.py", *FIT, "--runs", 2, "--optimizer", "momentum",
                       "--out", tmp_path / "new.json")
    assert code == 0 and err == []
    old, new = (json.loads((tmp_path / name).read_text()) for name in ("old.json", "new.json"))
    assert old["task"]["optimizer"] == "momentum"
    assert {**old, "wall_time_s": 0} == {**new, "wall_time_s": 0}


def test_sweep_prints_what_it_did_and_warns_once_for_old_optimizer_names(monkeypatch, capsys, tmp_path):
    argv = ["sweep", "--out", tmp_path, "--datasets", "radial_1", "--params", "he", "--optimizers",
            "sgd-momentum,adam", "--biases", "zero", "--runs", 1, "--width", 4, "--epoch_budget", 1,
            "--valid_budget", 1, "--n_valid", 8, "--n_test", 8, "--device", "cpu", "--jobs", 1]
    code, out, err = cli(monkeypatch, capsys, "run_nn_setups.py", *argv)
    assert code == 0 and err == ["warning: --optimizers sgd-momentum is deprecated; use --optimizers momentum"]
    assert f"{tmp_path}: " in out and " tasks trained, 0 kept from before" in out
    assert sorted(p.name for p in (tmp_path / "radial_1").iterdir()) == ["he_adam_zero", "he_momentum_zero"]
