"""Tests of the star study's references (kinks.star.reference; eval_star_dataset.py reference,
report --against and document): the CSV written from tiny trained folders against the first epochs
of their result.json, its intervals, the z-score against the formula written out here, settings
that differ never compared, partial and missing input, and the document as LaTeX and PDF. Tiny
sizes: the torch path at width 4, 10 networks, 300 epochs."""
import csv
import json
import math
import shutil

import pytest

import eval_star_dataset
import train_star_dataset
from conftest import call_script

TINY = ["--width", "4", "--runs", "10", "--dtype", "float64", "--engine", "torch", "--device", "cpu",
        "--checkpoint_every", "100", "--log_every", "100"]


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def pooled_z(k1, n1, k2, n2):
    """The two-proportion z-score, written out here independently of kinks.stats."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else (k1 / n1 - k2 / n2) / se


def train(monkeypatch, capsys, results, dataset, epochs):
    code, _, stderr = call_script(monkeypatch, capsys, train_star_dataset, "train_star_dataset.py", "train",
                                  "--dataset", dataset, "--epochs", epochs, "--results", results, *TINY)
    assert code == 0, stderr


def evaluate(monkeypatch, capsys, *argv):
    return call_script(monkeypatch, capsys, eval_star_dataset, "eval_star_dataset.py", *map(str, argv))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """star_11 and cross as the quick preset's configurations (Gram step) at n = 4, P = 10, 300 epochs."""
    results = tmp_path_factory.mktemp("star_reference") / "results"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for dataset in ("star_11", "cross"):
            monkeypatch.setattr("sys.argv", ["train_star_dataset.py", "train", "--dataset", dataset, "--epochs", "300",
                                             "--results", str(results), *TINY])
            train_star_dataset.main()
    return results


def first_epochs(results, dataset):
    [path] = (results / "star" / dataset).glob("*/result.json")
    return json.loads(path.read_text())


def test_the_reference_counts_are_those_of_the_folders_first_epochs(trained, tmp_path, monkeypatch, capsys):
    code, stdout, stderr = evaluate(monkeypatch, capsys, "reference", "--preset", "quick", "--results", trained,
                                    "--dtype", "float64", "--max_epochs", 300, "--out", tmp_path)
    assert code == 0, stderr
    assert f"2 rows (width x stage): {tmp_path / 'quick.csv'}" in stdout
    assert "not found (not in the file): star_11 n = 16 seed 0" in stdout   # the preset's own widths
    rows = read_csv(tmp_path / "quick.csv")
    for row in rows:
        settings = json.loads(row["settings"])
        result = first_epochs(trained, settings["dataset"])
        assert (row["width"], row["epochs"], row["networks"], row["seed"], row["engine"]) == \
            ("4", "300", "10", "0", "torch")
        assert settings == dict(dataset=settings["dataset"], layers=1, activation="relu", random_bias=False,
                                step="gram", lr_factor=1.0, dtype="float64", samples="n^2", data=None)
        for measure in ("kink", "loss"):
            crossed = sum(0 <= epoch < 300 for epoch in result[f"{measure}_epoch"])
            assert int(row[f"{measure}_crossed"]) == crossed
            assert float(row[f"{measure}_fraction"]) == crossed / 10
            assert float(row[f"{measure}_low"]) <= crossed / 10 <= float(row[f"{measure}_high"])
        assert row["command"].startswith(f"python train_star_dataset.py train --dataset {settings['dataset']} "
                                         "--width 4 --layers 1 --runs 10 --seed 0 --step gram")
        assert row["command"].endswith("--dtype float64 --engine torch --epochs 300")


def test_z_scores_against_the_reference_and_differing_settings_never_compared(trained, tmp_path, monkeypatch,
                                                                              capsys):
    shipped = tmp_path / "shipped"
    code, _, stderr = evaluate(monkeypatch, capsys, "reference", "--preset", "quick", "--results", trained,
                               "--dtype", "float64", "--max_epochs", 300, "--out", shipped)
    assert code == 0, stderr
    rows = read_csv(shipped / "quick.csv")
    rows[0]["kink_crossed"], rows[0]["loss_crossed"], rows[0]["networks"] = "3", "7", "20"  # another estimate
    other = dict(json.loads(rows[1]["settings"]), dtype="float32")          # a setting that differs
    rows[1]["settings"] = json.dumps(other, sort_keys=True, separators=(",", ":"))
    with open(shipped / "quick.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, stdout, stderr = evaluate(monkeypatch, capsys, "report", "--results", trained, "--compile", "no",
                                    "--out", tmp_path / "eval", "--against", shipped / "quick.csv")
    assert code == 0, stderr
    compared = read_csv(tmp_path / "eval" / "against_reference.csv")
    dataset = json.loads(rows[0]["settings"])["dataset"]
    assert len(compared) == 1 and compared[0]["series"].startswith(dataset)
    own = first_epochs(trained, dataset)
    for measure, ref_k in (("kink", 3), ("loss", 7)):
        k = sum(0 <= epoch < 300 for epoch in own[f"{measure}_epoch"])
        assert float(compared[0][f"{measure}_z"]) == pytest.approx(pooled_z(k, 10, ref_k, 20), rel=1e-12)
    assert "no reference of the same settings, width and epoch count for: " in stdout
    assert "(1 rows compared, 1 without a reference)" in stdout


def test_partial_input_writes_the_reached_rows_and_none_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    train(monkeypatch, capsys, results, "star_11", 300)
    train(monkeypatch, capsys, results, "cross", 100)
    argv = ["reference", "--preset", "quick", "--results", results, "--dtype", "float64", "--out", tmp_path / "ref"]
    code, stdout, stderr = evaluate(monkeypatch, capsys, *argv, "--max_epochs", 300)
    assert code == 0, stderr
    assert "not reached (not in the file): cross n = 4 at 300 epochs" in stdout
    assert [json.loads(row["settings"])["dataset"] for row in read_csv(tmp_path / "ref" / "quick.csv")] == ["star_11"]
    code, _, stderr = evaluate(monkeypatch, capsys, *argv)   # the preset's own stages: 5,000 epochs not reached
    assert code == 2 and len(stderr) == 1 and stderr[0].startswith("error: --input: no configuration of --preset quick")
    code, _, stderr = evaluate(monkeypatch, capsys, "reference", "--preset", "paper", "--results", results)
    assert code == 2 and len(stderr) == 1 and stderr[0].startswith("error: --preset ")


def test_a_1d_reference_is_neither_read_nor_overwritten(trained, tmp_path, monkeypatch, capsys):
    from kinks.mc.crossing import REFERENCE_DIR

    shutil.copy(REFERENCE_DIR / "paper.csv", tmp_path / "quick.csv")
    code, _, stderr = evaluate(monkeypatch, capsys, "reference", "--preset", "quick", "--results", trained,
                               "--dtype", "float64", "--max_epochs", 300, "--out", tmp_path)
    assert code == 2 and len(stderr) == 1 and "is not a star reference" in stderr[0]
    code, _, stderr = evaluate(monkeypatch, capsys, "report", "--results", trained, "--compile", "no",
                               "--out", tmp_path / "eval", "--against", tmp_path)
    assert code == 2 and len(stderr) == 1 and "holds no star reference CSV" in stderr[0]


@pytest.mark.parametrize("compile", ["no", "yes"])
def test_the_document_is_written_as_latex_and_compiled_where_pdflatex_is(trained, tmp_path, monkeypatch, capsys,
                                                                         compile):
    if compile == "yes" and shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    out = tmp_path / "document"
    code, stdout, stderr = evaluate(monkeypatch, capsys, "document", "--results", trained, "--out", out,
                                    "--max_epochs", 300, "--compile", compile)
    assert code == 0, stderr
    tex = (out / "star_document.tex").read_text()
    assert r"\section{Preset \texttt{paper\_star\_gram (float64)}}" in tex   # star_11 with the Gram step
    assert "paper\\_star}" in tex and "(not run)" in tex                      # the published step: not run
    assert "No row has a shipped reference" in tex and "Deviations from the published code" in tex
    assert (out / "fractions_paper_star_gram_float64.png").exists()
    assert (out / "star_document.pdf").exists() == (compile == "yes")
    if compile == "no":
        assert "star_document.pdf not compiled" in stdout


def test_the_document_of_no_trained_folder_says_so(tmp_path, monkeypatch, capsys):
    """With no configuration below the results, every preset is 'not run' in the document, and the
    command says so and how to train, instead of listing an empty set of figures."""
    (tmp_path / "star").mkdir()
    code, stdout, stderr = evaluate(monkeypatch, capsys, "document", "--results", tmp_path, "--compile", "no")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("no configuration folder below") and "experiments --preset paper_star" in lines[0]
    assert "figures: none" in lines
    tex = (tmp_path / "star" / "document" / "star_document.tex").read_text()
    assert "No configuration found that reached a stage" in tex and "(not run)" in tex


def test_shipped_star_references_are_consistent():
    """Every shipped star reference: counts within the networks, p-hat = count / networks inside its
    95 % interval, the settings those of its preset at that width, stages among the preset's, the
    command one of the star scripts."""
    from conftest import ROOT
    from kinks.star.config import PRESETS, preset_configs
    from kinks.star.reference import is_star_reference

    for path in sorted((ROOT / "reference").glob("*.csv")):
        if not is_star_reference(path):
            continue
        for row in read_csv(path):
            networks, settings = int(row["networks"]), json.loads(row["settings"])
            assert int(row["epochs"]) in PRESETS[row["preset"]]["stages"]
            assert any(config.width == int(row["width"]) for config in preset_configs(row["preset"],
                       step=settings["step"], dtype=settings["dtype"]))
            for measure in ("kink", "loss"):
                count = int(row[f"{measure}_crossed"])
                assert 0 <= count <= networks
                assert float(row[f"{measure}_low"]) <= count / networks <= float(row[f"{measure}_high"])
            assert row["command"].startswith("python train_star_dataset.py ")
