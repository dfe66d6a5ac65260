"""Every option of every command of the seven scripts against bad values, as one table: each bad
value must end in exit 2 and one line 'error: ...' naming the option, with no traceback and nothing
written. The table names a kind per option (``OPTIONS``); each kind lists its bad values
(``BAD``): empty, an empty or repeated list item, nan, inf, huge (1e300), negative, zero,
non-numeric, a fraction where an integer is wanted, a list where one value is wanted. The commands
run in this process (conftest's ``call_script``), in an empty folder that must stay empty."""
import importlib

import pytest

import utils
from conftest import call_script

SCRIPTS = ("mc_training", "mc_plotting", "mc_minima", "train_star_dataset", "eval_star_dataset",
           "run_nn_setups", "eval_nn_setups")

COUNT = ["", "abc", "nan", "inf", "1e300", "-1", "0", "1.5", "[1,2]", "true"]
BAD = {
    "count": COUNT,
    "count0": [v for v in COUNT if v != "0"],  # an integer >= 0 (seeds, runs of a benchmark)
    "integer": ["", "abc", "nan", "inf", "1e300", "1.5", "[1,2]"],
    "positive": ["", "abc", "nan", "inf", "1e300", "-1", "0", "[1,2]"],
    "number": ["", "abc", "nan", "inf", "1e300", "[1,2]"],
    "counts": ["", "16,,32", "16,16", ",", "abc", "nan", "1e300", "-16", "0", "16.5"],
    "numbers": ["", "0,,0.1", "0,0", ",", "abc", "nan", "inf", "1e300"],
    "choice": ["", "bogus", "1", "nan"],
    "flag": ["maybe", "2", "nan"],
    "jobs": ["", "abc", "nan", "0", "-2", "1.5", "1e300"],
    "device": ["", "bogus", "cuda:x"],
    "folder": [""],  # a folder may be called anything but nothing
    "input": ["", "no/such/folder"],
    "data": ["", "abc", "-1:1,,1:1", "-3:1,-2:-1,1:1,1e300:1", "-2:1,-2:1,1:1,2:1", "-2:nan,-1:1,1:1,2:1",
             "-1:1,1:1"],
    "probs": ["", "abc", "0.5,0.5"],  # with the paper's data: --probs needs --data
    "text": [""],
    "samples": ["", "abc", "n^0", "n^-1", "n^", "0", "-1", "1.5", "1e300", "nan"],
    "datafile": ["", "no_such_file.csv", "."],  # a CSV file (star); bad contents: tests/star/test_star_inputs.py
}
ANIMATE = dict(optimizer="choice", step="choice", leak="number", width="count", epochs="count", frames="count",
               seed="count0", data="data", probs="probs", mp4="flag", out="folder", results="folder")
OPTIONS = {  # (script, command): {option: kind}
    ("mc_training", "run"): dict(
        preset="choice", optimizer="choice", step="choice", init="choice", stopping="choice", offsets="numbers",
        widths="counts", runs="count", seed="count0", epochs_per_check="count", max_checks="count",
        engine="choice", chunk_size="count", save_params="flag", batch_size="count", leak="number", data="data",
        probs="probs", jobs="jobs", out="folder", backend="choice", scheduler="text", results_on_client="flag",
        samples="samples", results="folder"),
    ("mc_training", "status"): dict(input="input", results="folder"),
    ("mc_training", "event"): dict(widths="counts", runs="count", epsilon="positive", gamma="positive",
                                   factor="positive", seed="count0", out="folder", compile="choice",
                                   samples="samples", results="folder"),
    ("mc_training", "soundness"): dict(widths="counts", runs="count", epochs="count", offset="number",
                                       seed="count0", data="data", probs="probs"),
    ("mc_training", "benchmark"): dict(widths="counts", seconds="positive", threads="count", study_width="count",
                                       study_runs="count0", sgd_width="count0", adam_width="count0"),
    ("mc_training", "experiments"): dict(presets="choice", runs="count", widths="counts", jobs="jobs",
                                         results="folder", out="folder", compile="choice", event_runs="count0"),
    ("mc_plotting", "report"): dict(results="input", input="input", out="folder", compile="choice",
                                    against="input", epsilon="positive", gamma="positive", event_runs="count0"),
    ("mc_plotting", "animate"): ANIMATE,
    ("mc_plotting", "reference"): dict(input="input", preset="choice", out="folder", results="folder"),
    ("mc_plotting", "examples"): dict(out="folder", seed="count0", results="folder"),
    ("mc_minima", "risk"): dict(
        offsets="numbers", widths="counts", runs="count", seed="count0", tol="positive", max_epochs="count",
        epochs_per_check="count", chunk_size="count", save_params="flag", data="data", probs="probs",
        leak="number", jobs="jobs", out="folder", samples="samples", results="folder"),
    ("mc_minima", "trace"): dict(
        offsets="numbers", widths="counts", runs="count", seed="count0", optimizer="choice", step="choice",
        epochs="count", per_decade="count", chunk_size="count", data="data", probs="probs", leak="number",
        samples="samples", jobs="jobs", out="folder", results="folder"),
    ("mc_minima", "diagnose"): dict(
        widths="counts", runs="count", pairs="count0", offset="number", seed="count0", tol="positive",
        max_epochs="count", epochs_per_check="count", top="count", rtol="positive", data="data", probs="probs",
        leak="number", out="folder", results="folder"),
    ("mc_minima", "benchmark"): dict(widths="counts", repeats="count"),
    ("train_star_dataset", "train"): dict(
        dataset="choice", width="count", layers="count", runs="count", epochs="count", activation="choice",
        random_bias="flag", step="choice", lr_factor="positive", seed="count0", dtype="choice", samples="samples",
        data="datafile", probs="probs", device="device", results="folder", log_every="count",
        checkpoint_every="count", engine="choice", jobs="jobs", backend="choice", scheduler="text"),
    ("train_star_dataset", "experiments"): dict(
        preset="choice", step="choice", lr_factor="positive", activation="choice", random_bias="flag",
        dtype="choice", samples="samples", data="datafile", probs="probs", device="device", results="folder",
        max_epochs="count", engine="choice", jobs="jobs", backend="choice", scheduler="text"),
    ("train_star_dataset", "animate"): dict(dataset="choice", width="count", epochs="count", frames="count",
                                            seed="count0", samples="samples", mp4="flag", out="folder",
                                            results="folder"),
    ("train_star_dataset", "benchmark"): dict(device="device", dtype="choice", seconds="positive",
                                              threads="count", results="folder", preset="choice", sample="count",
                                              jobs="jobs", max_epochs="count"),
    ("eval_star_dataset", "report"): dict(results="input", input="input", out="folder", epochs="count",
                                          select="choice", compile="choice", against="input"),
    ("eval_star_dataset", "reference"): dict(preset="choice", input="input", out="folder", results="folder",
                                             step="choice", lr_factor="positive", activation="choice",
                                             random_bias="flag", dtype="choice", max_epochs="count"),
    ("eval_star_dataset", "document"): dict(results="folder", input="input", out="folder", compile="choice",
                                            max_epochs="count"),
    ("run_nn_setups", "fit"): dict(
        dataset="choice", param="choice", optimizer="choice", bias="choice", bias_gain="number", lr="positive",
        step_exponent="integer", runs="count", n_chunks="count", width="count", epoch_budget="count",
        valid_budget="count", batch_size="count", train_per_dim="count", n_valid="count", n_test="count",
        seed="count0", device="device", dtype="choice", out="folder", results="folder"),
    ("run_nn_setups", "sweep"): dict(
        grid="choice", out="folder", datasets="choice", params="choice", optimizers="choice", biases="choice",
        bias_gain="number", runs="count", width="count", epoch_budget="count", valid_budget="count",
        batch_size="count", train_per_dim="count", n_valid="count", n_test="count", seed="count0",
        device="device", dtype="choice", jobs="jobs", backend="choice", scheduler="text", results="folder"),
    ("run_nn_setups", "benchmark"): dict(runs="count", width="count", dims="counts", steps="count",
                                         optimizer="choice", device="device", dtype="choice", threads="count",
                                         out="folder", results="folder"),
    **{("eval_nn_setups", command): dict(
        grid="choice", input="input", results="input", out="folder", compile="choice", family="choice",
        bias="choice", ex_configs="choice", relative_to="choice", published="flag", usetex="choice")
       for command in ("table", "figures", "report")},
}
for key in (("eval_nn_setups", "table"), ("eval_nn_setups", "figures")):  # each has only some of them
    OPTIONS[key] = {o: k for o, k in OPTIONS[key].items() if o in utils.command_options(
        importlib.import_module(key[0]).COMMANDS[key[1]])}
REQUIRED = {("mc_plotting", "reference"): ["--preset", "quick"],  # the required options' good values
            ("eval_star_dataset", "reference"): ["--preset", "quick"]}
CASES = [(script, command, option, value) for (script, command), options in OPTIONS.items()
         for option, kind in options.items() for value in BAD[kind]]


def test_the_table_covers_every_option_of_every_command():
    for script in SCRIPTS:
        for command, function in importlib.import_module(script).COMMANDS.items():
            assert set(OPTIONS.get((script, command), ())) == set(utils.command_options(function)), (script, command)


def required_arguments(script, command, option):
    """Good values of the command's required options other than ``option``."""
    extra = list(REQUIRED.get((script, command), ()))
    if (script, command) in (("mc_training", "status"), ("mc_plotting", "reference")) and option != "input":
        extra += ["--input", "."]
    if extra[:1] == ["--preset"] and option == "preset":
        extra = extra[2:]
    return extra


@pytest.mark.parametrize("script, command, option, value", CASES)
def test_bad_value_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, script, command, option, value):
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("KINKS_RESULTS", str(folder / "results"))
    argv = [command, f"--{option}={value}", *required_arguments(script, command, option)]
    code, out, err = call_script(monkeypatch, capsys, importlib.import_module(script), f"{script}.py", *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and f"--{option}" in err[0], (argv, out, err)
    assert "Traceback" not in err[0] and "Error:" not in err[0].removeprefix("error: "), err
    assert not any(folder.iterdir()), sorted(folder.rglob("*"))
