"""Tests of kinks.star.report and the report command of eval_star_dataset.py: reading folders
(also as older versions wrote them), pooling over seeds with Clopper-Pearson intervals, selection,
refusals, the table, the crossed-fractions figure and the median networks. Tiny sizes throughout."""
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import eval_star_dataset as ev
from conftest import run_script
from pdf_checks import figure_text_problems, needs_pdf_tools
from kinks.checks import UsageError
from kinks.figures import compile_tex, standalone_tex
from kinks.files import save_json, save_text
from kinks.star import training
from kinks.star import report as sr
from kinks.star.config import StarConfig
from kinks.star.data import make_data


def hand_made_run(results, width, seed, kink, loss, epoch=100, dataset="cross", **settings):
    """A run folder written by hand with the given first epochs (-1: never)."""
    config = StarConfig(dataset=dataset, width=width, runs=len(kink), seed=seed, **settings)
    folder = config.folder(results)
    save_json(folder / "config.json", config.as_dict())
    save_json(folder / "result.json", dict(
        config=config.as_dict(), epoch=epoch, n_networks=len(kink), kink_epoch=kink, loss_epoch=loss,
        nan_epoch=[-1] * len(kink), final_ratio=[1.0] * len(kink), log_columns=[], log=[]))
    return folder


def report_cli(results, *args):
    return run_script("eval_star_dataset.py", "report", "--results", results, "--compile", "no", *args)


def test_fractions_pooled_over_seeds_with_clopper_pearson_intervals(tmp_path, capsys):
    from scipy.stats import beta

    hand_made_run(tmp_path, 8, 0, kink=[-1, 5, 99, -1], loss=[-1, -1, 50, -1])
    hand_made_run(tmp_path, 8, 1, kink=[0, -1, -1, 120], loss=[-1, -1, -1, -1], epoch=150)
    hand_made_run(tmp_path, 16, 0, kink=[-1, -1, -1], loss=[-1, -1, -1])
    (tmp_path / "star" / "cross" / "broken").mkdir()
    (tmp_path / "star" / "cross" / "broken" / "config.json").write_text("{")
    runs = sr.load_results([tmp_path])
    assert "skipping folder" in capsys.readouterr().err
    rows = sr.table_rows(runs, epochs=100)
    row = rows[0]
    assert (row["width"], row["runs"], row["networks"], row["seeds"], row["epochs"]) == (8, 4, 8, 2, 100)
    assert (row["kink_crossed"], row["loss_crossed"]) == (3, 1)   # 120 >= 100: not yet
    assert row["kink_low"] == pytest.approx(beta.ppf(0.025, 3, 6)) and row["kink_high"] == pytest.approx(
        beta.ppf(0.975, 4, 5))
    assert rows[1]["kink_crossed"] == 0 and rows[1]["kink_low"] == 0 and rows[1]["kink_high"] == pytest.approx(
        1 - 0.025 ** (1 / 3))
    assert [r["loss_crossed"] for r in sr.table_rows(runs, epochs=50)] == [0, 0]
    assert "after 100 epochs; 8 networks per point (2 seeds of P = 4, n = 8); 3 networks per point " \
           "(1 seed of P = 3, n = 16); 95% Clopper-Pearson intervals" in sr.format_table(rows)


@pytest.mark.slow
def test_report_refuses_to_pool_runs_with_different_p(tmp_path, capsys):
    """The issue's case: P = 50 at 4,000 epochs beside P = 200 at 10,000, same series and width."""
    hand_made_run(tmp_path, 64, 0, kink=[-1] * 50, loss=[-1] * 50, epoch=4000, dataset="star_11")
    hand_made_run(tmp_path, 64, 1, kink=[-1] * 200, loss=[10] * 200, epoch=10_000, dataset="star_11")
    message = "refusing to pool the networks of star_11, gram step, n = 64 with different P (50, 200)"
    result = report_cli(tmp_path, "--epochs", "4000")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ev.report(results=tmp_path, compile="no")
    assert not (tmp_path / "star" / "eval").exists()
    ev.report(results=tmp_path, select="runs=200", compile="no")
    out = capsys.readouterr().out
    assert "1.000 [0.982, 1.000]" in out   # loss crossed: 200 of 200
    assert "after 10,000 epochs; 200 networks per point (1 seed of P = 200)" in out
    assert "not drawn (no state.pt in" in out   # a hand-made run has no saved networks


@pytest.mark.slow
def test_report_refuses_runs_at_different_epoch_counts_unless_one_count_is_given(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3], epoch=100)
    hand_made_run(tmp_path, 8, 1, kink=[-1, 150], loss=[-1, -1], epoch=200)
    hand_made_run(tmp_path, 16, 0, kink=[-1, 5], loss=[-1, 3], epoch=200)
    result = report_cli(tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "different epoch counts (100 epochs in 1 folder, 200 epochs in 2 folders); pass --epochs E with E <= 100" \
        in result.stderr
    with pytest.raises(UsageError, match="--epochs 101 exceeds the epochs reached by some configurations"):
        ev.report(results=tmp_path, epochs=101, compile="no")
    assert not (tmp_path / "star" / "eval").exists()
    rows = sr.table_rows(sr.load_results([tmp_path]), epochs=100)
    assert {row["epochs"] for row in rows} == {100} and rows[0]["kink_crossed"] == 1   # epoch 150: not yet
    rows = sr.table_rows(sr.select_results(sr.load_results([tmp_path]), "width=16"))
    assert [(row["width"], row["epochs"]) for row in rows] == [(16, 200)]


def test_select_filters_runs_by_setting(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    hand_made_run(tmp_path, 8, 0, kink=[2, 5], loss=[-1, 3], step="published")
    hand_made_run(tmp_path, 16, 0, kink=[-1, 5], loss=[-1, 3], step="published", random_bias=True)
    hand_made_run(tmp_path, 16, 0, kink=[-1, 5], loss=[-1, 3], step="published", lr_factor=1.0)
    runs = sr.load_results([tmp_path])
    assert len(runs) == 4 and len(sr.cells(runs)) == 4   # every setting apart from width, P, seed: a series
    chosen = sr.select_results(runs, "step=published,width=16,random_bias=false")
    assert [(r.config.width, r.config.lr_factor) for r in chosen] == [(16, 1.0)]
    assert len(sr.select_results(runs, ("width=8", "width=16", "lr_factor=2"))) == 2
    labels = sorted(sr.series_label(key) for key, _ in sr.cells(runs))
    assert labels == ["cross, gram step", "cross, published step", "cross, published step x1",
                      "cross, published step, random bias"]
    for select, message in [("colour=red", "--select takes key=value pairs with keys dataset, width"),
                            ("width", "--select takes key=value pairs"),
                            ("width=32", "--select width=32: no configuration has these settings")]:
        with pytest.raises(UsageError, match=message):
            ev.report(results=tmp_path, select=select, compile="no")


def test_the_same_run_found_twice_is_not_pooled(tmp_path):
    folder = hand_made_run(tmp_path / "a", 8, 0, kink=[-1, 5], loss=[-1, 3])
    shutil.copytree(folder, tmp_path / "b" / "copy")
    with pytest.raises(UsageError, match=r"seed 0\) appears 2 times"):
        ev.report(results=tmp_path, input=f"{tmp_path / 'a'},{tmp_path / 'b'}", compile="no")


def test_inconsistent_run_folders_are_named_and_skipped(tmp_path, capsys):
    good = hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    short = hand_made_run(tmp_path, 8, 1, kink=[-1, 5], loss=[-1, 3])
    result = json.loads((short / "result.json").read_text())
    save_json(short / "result.json", {**result, "loss_epoch": [-1]})
    other = hand_made_run(tmp_path, 8, 2, kink=[-1, 5], loss=[-1, 3])
    save_json(other / "config.json", {**json.loads((other / "config.json").read_text()), "seed": 9})
    assert [result.folder for result in sr.load_results([tmp_path])] == [good.resolve()]
    err = capsys.readouterr().err
    assert f"skipping folder {short.resolve()}: the per-network lists" in err
    assert f"skipping folder {other.resolve()}: config.json and result.json differ" in err


def test_folders_written_before_the_step_rules_read_as_gram(tmp_path):
    folder = hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    old = json.loads((folder / "config.json").read_text())
    old["n_networks"] = old.pop("runs")
    del old["step"]
    save_json(folder / "config.json", old)
    save_json(folder / "result.json", {**json.loads((folder / "result.json").read_text()), "config": old})
    [result] = sr.load_results([tmp_path])
    assert result.config == StarConfig(dataset="cross", width=8, runs=2, seed=0)


def pdf_uses_truetype_fonts_only(path):
    data = path.read_bytes()
    return data[:4] == b"%PDF" and b"/FontFile2" in data and b"/Type3" not in data


@pytest.mark.slow
def test_report_writes_csv_figures_and_median_networks(tmp_path):
    for dataset in ("star_7", "standard"):
        config = StarConfig(dataset=dataset, width=8, runs=5, seed=0)
        training.train(config, 30, torch.device("cpu"), tmp_path, log_every=10, progress=False)
    out = tmp_path / "eval"
    ev.report(results=tmp_path, out=out, compile="yes" if shutil.which("pdflatex") else "no")
    lines = (out / "crossed_fractions.csv").read_text().splitlines()
    assert lines[0].split(",") == sr.COLUMNS and len(lines) == 3
    tex = (out / "crossed_fractions.tex").read_text()
    assert tex.count(r"\addplot") == 4 and tex.count("forget plot") == 2      # the loss-crossed twins: no entry
    entries = [line for line in tex.splitlines() if line.startswith(r"\addlegendentry")]
    assert entries == [r"\addlegendentry{standard, gram step}", r"\addlegendentry{star\_7, gram step}",
                       r"\addlegendentry{kink crossed}", r"\addlegendentry{loss crossed}"]
    assert "after 30 epochs" in tex and "5 networks per point (1 seed of P = 5)" in tex
    assert "95\\% Clopper-Pearson intervals" in tex
    for stem in ("median_star_7__gram_step_n8", "median_standard__gram_step_n8"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert pdf_uses_truetype_fonts_only(out / f"{stem}.pdf")
    assert (out / "crossed_fractions.png").read_bytes()[:4] == b"\x89PNG"
    if shutil.which("pdflatex"):
        assert (out / "crossed_fractions.pdf").read_bytes()[:4] == b"%PDF"


def test_median_map_is_scaled_to_the_function():
    f = lambda x: 0.01 * x[:, 0]   # noqa: E731 - a small function on a scale of labels +-2
    X, y = make_data("star_7")
    figure = sr.plane_figure(f, X, y, "title")
    image = figure.axes[0].get_images()[0]
    radius = 1.15 * np.abs(X).max()
    assert image.norm.vmin == pytest.approx(-0.01 * radius) and image.norm.vmax == pytest.approx(0.01 * radius)
    markers = figure.axes[0].collections
    assert sum(len(c.get_offsets()) for c in markers) == len(y)


@needs_pdf_tools
def test_pgfplots_figure_compiles_with_its_text_on_the_page(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    hand_made_run(tmp_path, 32, 0, kink=[-1, 5], loss=[-1, -1], dataset="random_with_line")
    rows = sr.table_rows(sr.load_results([tmp_path]))
    tex = tmp_path / "figure.tex"
    save_text(tex, standalone_tex(sr.fractions_plot(rows).pgfplots_body()))
    assert compile_tex(tex, "yes").read_bytes()[:4] == b"%PDF"
    assert figure_text_problems(tex) == []


def test_median_network_is_the_middle_finite_ratio():
    group = [SimpleNamespace(final_ratio=[3.0, None, 1.0]), SimpleNamespace(final_ratio=[2.0, 5.0])]
    run, index = sr.median_network(group)
    assert run is group[1] and index == 0
    assert sr.median_network([SimpleNamespace(final_ratio=[None])]) is None


def test_old_step_rule_in_files_and_in_select_reads_as_gram(tmp_path, capsys):
    folder = hand_made_run(tmp_path, 8, 0, kink=[-1, 5], loss=[-1, 3])
    for name in ("config.json", "result.json"):
        (folder / name).write_text((folder / name).read_text().replace('"step": "gram"', '"step": "ntk"'))
    folder.rename(folder.with_name(folder.name.replace("_gram-", "_ntk-")))
    hand_made_run(tmp_path, 8, 0, kink=[2, 5], loss=[-1, 3], step="published")
    results = sr.load_results([tmp_path])
    assert sorted(r.config.step for r in results) == ["gram", "published"]
    capsys.readouterr()
    old = sr.table_rows(sr.select_results(results, "step=ntk"))
    assert capsys.readouterr().err.splitlines() == ["warning: --select step=ntk is deprecated; use step=gram"]
    assert old == sr.table_rows(sr.select_results(results, "step=gram"))
    assert [sr.series_label(sr.series_key(row)) for row in old] == ["cross, gram step"]



def test_input_takes_a_folder_name_below_star_or_a_path(tmp_path):
    hand_made_run(tmp_path, 8, 0, kink=[-1, 5, 99, -1], loss=[-1, -1, 50, -1])
    ev.report(results=tmp_path, input="cross", out=tmp_path / "named", compile="no")
    ev.report(results=tmp_path, input=tmp_path / "star" / "cross", out=tmp_path / "path", compile="no")
    assert (tmp_path / "named" / "crossed_fractions.csv").read_text() == \
        (tmp_path / "path" / "crossed_fractions.csv").read_text()
    with pytest.raises(UsageError, match=f"--input square: no folder there or in {tmp_path / 'star'}"):
        ev.report(results=tmp_path, input="square", compile="no")
