"""Tests of the Monte Carlo report: aggregation of hand-made chunk files against scipy's beta
quantiles, tolerance to corrupt, truncated and foreign files, the LaTeX figure compiled by
pdflatex, the PNG, the comparison of runs, the example figures and the CLI's bad-input exits."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

import mc_plotting
import mc_training as mc
from kinks.checks import UsageError
from kinks.figures import new_figure, save_figure, series_style
from kinks.files import save_json, save_npz

ROOT = Path(__file__).resolve().parents[1]


def write_run(run_dir, config):
    save_json(Path(run_dir) / "run.json", {"format": "kinks-mc-run/1", "config": config,
                                                 "label": mc.run_label(config), "created": "now"})


def write_chunk(run_dir, config, offset, width, chunk, counts):
    """A chunk file pair made by hand, holding the statuses ``counts`` ({status: count})."""
    status = np.array([name for name, count in counts.items() for _ in range(count)])
    runs = len(status)
    path = mc.chunk_path(run_dir, offset, width, chunk)
    save_npz(path, status=status, stop_epoch=np.zeros(runs, int), first_cross_epoch=np.full(runs, -1),
                   step_size=np.full(runs, 0.01))
    save_json(path.with_suffix(".json"), {"format": mc.CHUNK_FORMAT, "offset": offset, "width": width,
                                                "chunk": chunk, "runs": runs, "config": config, "counts": counts})
    return path


def hand_made_run(run_dir):
    """Widths 16 and 32, 30 runs in chunks of 20 + 10; the second chunk of n = 32 is missing."""
    config = mc.make_config(widths=[16, 32], runs=30, offsets=[0.0], chunk_size=20)
    write_run(run_dir, config)
    write_chunk(run_dir, config, 0.0, 16, 0, {"CROSSED": 12, "LOCALLY_CONVERGED": 6, "EARLY_STOPPED": 2})
    write_chunk(run_dir, config, 0.0, 16, 1, {"DIVERGED": 3, "LOCALLY_CONVERGED": 5, "UNFINISHED": 2})
    write_chunk(run_dir, config, 0.0, 32, 0, {"LOCALLY_CONVERGED": 20})
    return config


def real_run(out, seed=0):
    """A small real run: n = 16, 20 networks in 4 chunks of 5."""
    return Path(mc.run(widths=[16], runs=20, offsets=[0.0], max_checks=5, jobs=1, chunk_size=5, seed=seed, out=out))


def test_aggregation_of_hand_made_chunks(tmp_path, capsys):
    hand_made_run(tmp_path / "mc" / "hand")
    mc_plotting.report(results=tmp_path, out=tmp_path / "report", compile="no")
    printed = capsys.readouterr().out
    with open(tmp_path / "report" / "crossing_probability.csv") as file:
        rows = {int(row["width"]): row for row in csv.DictReader(file)}
    # n = 16: 30 networks, 13 stayed (LOCALLY_CONVERGED + EARLY_STOPPED), k = 17 possibly crossed
    row = rows[16]
    assert (int(row["runs"]), int(row["crossed"]), int(row["CROSSED"]), int(row["DIVERGED"])) == (30, 17, 12, 3)
    assert (int(row["LOCALLY_CONVERGED"]), int(row["EARLY_STOPPED"]), int(row["UNFINISHED"])) == (11, 2, 2)
    assert float(row["p_hat"]) == pytest.approx(17 / 30, rel=1e-12)
    assert float(row["ci_low"]) == pytest.approx(scipy.stats.beta.ppf(0.025, 17, 14), rel=1e-9)
    assert float(row["ci_high"]) == pytest.approx(scipy.stats.beta.ppf(0.975, 18, 13), rel=1e-9)
    # n = 32: one chunk of 20, all LOCALLY_CONVERGED: p_hat = 0, interval [0, Beta^-1(0.975; 1, 20)]
    row = rows[32]
    assert (int(row["runs"]), int(row["planned"]), int(row["crossed"])) == (20, 30, 0)
    assert (float(row["p_hat"]), float(row["ci_low"])) == (0.0, 0.0)
    assert float(row["ci_high"]) == pytest.approx(scipy.stats.beta.ppf(0.975, 1, 20), rel=1e-9)
    assert "(20 of 30 finished)" in printed
    assert "skipped n = 32 (p_hat = 0)" in printed and "no fit: needs two widths with p_hat > 0, has n = 16" in printed
    assert (tmp_path / "report" / "crossing_probability.png").stat().st_size > 0


def weighted_fit_by_lstsq(widths, p, runs):
    """The weighted fit computed independently: generalised least squares with the delta-method
    covariance diag((1 - p)/(runs p)) of log p, by numpy's lstsq on the whitened system."""
    X = np.column_stack([np.log(widths), np.ones(len(widths))])
    sigma = np.sqrt((1 - p) / (runs * p))
    coef, *_ = np.linalg.lstsq(X / sigma[:, None], np.log(p) / sigma, rcond=None)
    cov = np.linalg.inv((X / sigma[:, None]).T @ (X / sigma[:, None]))
    chi2 = np.sum(((np.log(p) - X @ coef) / sigma) ** 2)
    return coef[0], np.sqrt(cov[0, 0] * max(1.0, chi2 / (len(p) - 2)))


def test_weighted_power_law_fit_matches_an_independent_computation():
    widths = np.array([16, 32, 64, 128, 256])
    runs = np.array([500, 500, 400, 2000, 10_000])
    p = np.array([0.3, 0.25, 0.0, 0.12, 0.1])
    alpha, se, used, skipped = mc_plotting.fit_power_law(widths, p, runs)
    keep = p > 0
    reference_alpha, reference_se = weighted_fit_by_lstsq(widths[keep], p[keep], runs[keep])
    assert alpha == pytest.approx(reference_alpha, rel=1e-12) and se == pytest.approx(reference_se, rel=1e-9)
    weights = runs[keep] * p[keep] / (1 - p[keep])  # numpy's polyfit weighs residuals: w = 1/sigma
    assert alpha == pytest.approx(np.polyfit(np.log(widths[keep]), np.log(p[keep]), 1, w=np.sqrt(weights))[0],
                                  rel=1e-12)
    assert alpha != pytest.approx(scipy.stats.linregress(np.log(widths[keep]), np.log(p[keep])).slope, rel=1e-3)
    assert (used, skipped) == ([16, 32, 128, 256], [64])
    # an exact power law: the slope, and the binomial standard error alone (no scatter)
    exact = mc_plotting.fit_power_law(widths, 2 / np.sqrt(widths), runs)
    assert exact[0] == pytest.approx(-0.5, abs=1e-12)
    assert exact[1] == pytest.approx(weighted_fit_by_lstsq(widths, 2 / np.sqrt(widths), runs)[1], rel=1e-9)
    # two points: a slope, no standard error; p_hat = 1 has a finite weight
    two = mc_plotting.fit_power_law([16, 32], [1.0, 0.5], [100, 100])
    assert np.isfinite(two[0]) and np.isnan(two[1])


def test_corrupt_truncated_and_foreign_files_are_skipped(tmp_path, capsys):
    run_dir = real_run(tmp_path / "mc" / "real")
    other = real_run(tmp_path / "other", seed=1)  # another configuration: its chunks are foreign here
    valid = [mc.load_chunk(mc.chunk_path(run_dir, 0.0, 16, k))[1]["status"] for k in (2, 3)]
    truncated = mc.chunk_path(run_dir, 0.0, 16, 0)
    truncated.write_bytes(truncated.read_bytes()[:100])
    foreign = mc.chunk_path(run_dir, 0.0, 16, 1)
    for suffix in (".npz", ".json"):
        shutil.copy(mc.chunk_path(other, 0.0, 16, 1).with_suffix(suffix), foreign.with_suffix(suffix))
    corrupt_json = mc.chunk_path(run_dir, 0.0, 16, 7).with_suffix(".json")  # not a task of this run
    corrupt_json.write_text("{not json")
    stray = foreign.parent / "notes.txt"
    stray.write_text("hello")
    capsys.readouterr()
    mc_plotting.report(results=tmp_path, out=tmp_path / "report", compile="no")
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4
    for path in (truncated, foreign, corrupt_json.with_suffix(".npz"), stray):
        assert sum(str(path) in line for line in warnings) == 1
    with open(tmp_path / "report" / "crossing_probability.csv") as file:
        (row,) = csv.DictReader(file)
    statuses = np.concatenate(valid)
    assert int(row["runs"]) == len(statuses) == 10
    for name in mc.STATUSES:
        assert int(row[name]) == np.sum(statuses == name)
    assert (tmp_path / "report" / "crossing_probability.png").stat().st_size > 0


def compared_runs(tmp_path):
    for name, seed in (("gd_seed0", 0), ("gd_seed1", 1)):
        Path(mc.run(widths=[16, 32], runs=20, offsets=[0.0, 0.1], max_checks=5, jobs=1, seed=seed,
                    out=tmp_path / "mc" / name))


def test_compared_runs_get_their_own_report_folder_and_one_figure_style(tmp_path, capsys):
    compared_runs(tmp_path)
    mc_plotting.report(results=tmp_path, compile="no")
    everything = (tmp_path / "mc" / "report" / "crossing_probability.csv").read_bytes()
    capsys.readouterr()
    mc_plotting.report(results=tmp_path, input="gd_seed0,gd_seed1", compile="no")
    folder = tmp_path / "mc" / "report-gd_seed0+gd_seed1"
    assert capsys.readouterr().out.rstrip().endswith(f"figure: {folder / 'crossing_probability.png'}")
    assert (tmp_path / "mc" / "report" / "crossing_probability.csv").read_bytes() == everything  # not replaced
    tex = (folder / "crossing_probability.tex").read_text()
    # equal labels are told apart by the settings in which the runs differ; four series and the guide line
    assert r"theory step, seed 0, $\Delta = 0.1$" in tex and r"theory step, seed 1, $\Delta = 0$" in tex
    assert tex.count(r"\addplot") == 5 and r"{2/sqrt(x)}" in tex
    # the pgfplots series use the shared palette and marks, in order, like the matplotlib ones
    for i, style in enumerate(map(series_style, range(4))):
        assert f"\\definecolor{{series{i}}}{{HTML}}{{{style.color}}}" in tex
        assert f"color=series{i}, mark={style.mark}," in tex
    # four series at n = 16 dodged by 1.05^(-1.5, -0.5, 0.5, 1.5)
    for factor in mc_plotting.dodge_factors(4):
        assert f"({16 * factor:.6g}, " in tex
    # the note: interval, runs per point and epoch budget (1000 epochs per check x 5 checks)
    assert r"95 \% Clopper--Pearson intervals, 20 runs per point" in tex and "at most 5,000 epochs" in tex
    assert tex.count(str(tmp_path)) == 0  # no absolute paths


def test_figure_note_and_short_names():
    runs = [{"config": {"epochs_per_check": 1000, "max_checks": 1000}}, {"config": {"epochs_per_check": 100,
                                                                                    "max_checks": 10_000}}]
    rows = [{"runs": 20}, {"runs": 500}]
    assert mc_plotting.figure_note(runs, rows) == [r"$\hat p$ with 95 % Clopper–Pearson intervals, 20–500 runs "
                                                   "per point", "at most 1,000,000 epochs per network; series "
                                                   "offset horizontally"]
    assert mc_plotting.run_name("/elsewhere/my-run", "/results/mc") == "my-run"
    assert mc_plotting.run_name("/results/mc/a/b", "/results/mc") == "a/b"


def test_results_folder_of_the_old_meaning_gets_a_hint(tmp_path):
    hand_made_run(tmp_path / "mc" / "hand")
    with pytest.raises(UsageError, match="--results is the results root, the folder holding mc/"):
        mc_plotting.report(results=tmp_path / "mc", compile="no")


def test_matplotlib_pdfs_embed_truetype_fonts(tmp_path):
    figure, ax = new_figure()
    ax.set_title("some text")
    pdf = save_figure(figure, tmp_path / "figure.pdf").read_bytes()
    # TrueType outlines (a CIDFontType2 under a Type0 font, or a simple TrueType font), no Type 3
    assert (b"/CIDFontType2" in pdf or b"/Subtype /TrueType" in pdf) and b"/Type3" not in pdf


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_compared_runs_compile_to_pdf_and_png(tmp_path, capsys):
    compared_runs(tmp_path)
    capsys.readouterr()
    mc_plotting.report(results=tmp_path, input="gd_seed0,gd_seed1", out=tmp_path / "report", compile="yes")
    printed = capsys.readouterr().out
    pdf, png = tmp_path / "report" / "crossing_probability.pdf", tmp_path / "report" / "crossing_probability.png"
    assert printed.rstrip().endswith(f"figure: {pdf}")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


def test_example_figures_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(mc_plotting, "EXAMPLE_EPOCHS", 2000)
    mc_plotting.examples(out=tmp_path, seed=3)
    for name in ("example_networks", "example_kinks", "example_loss"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")


def test_example_pair_stays_put_and_crosses_on_the_same_data():
    p, inits, outcomes = mc_plotting.example_pair(seed=3, epochs=2000)
    assert outcomes[0][0] != "CROSSED" and outcomes[1][0] == "CROSSED" and outcomes[1][1] >= 1
    largest_kink = [np.abs(mc_plotting.train_example(p, init, 2000, (0,))["kinks"]).max() for init in inits]
    assert largest_kink[0] < 1.0 <= largest_kink[1]  # min |x_j| = 1


def test_example_training_is_gradient_descent():
    rng = np.random.default_rng(3)
    p = mc.sample_weights(rng, 1, 256)[0]
    init = tuple(q[0] for q in mc.init_params(rng, 1, 16))
    example = mc_plotting.train_example(p, init, epochs=50, snapshots=(0, 50))
    assert np.all(example["kinks"][0] == 0)  # b = 0 at He initialisation
    a, b, c, w = example["params"][50]
    x, y = mc.X_DATA, mc.Y_DATA
    direct = 0.5 * np.sum(p * (mc.network_output(a[None], b[None], np.array([c]), w[None], x)[0] - y) ** 2)
    assert example["loss"][50] == pytest.approx(direct, rel=1e-12)
    assert example["loss"][50] < example["loss"][0]
    ga, gb, gc, gw, _ = mc.loss_gradient(a[None], b[None], np.array([c]), w[None], x, y, p[None])
    norm = np.sqrt(np.sum(ga**2) + np.sum(gb**2) + np.sum(gw**2) + gc[0] ** 2)
    assert example["grad_norm"][50] == pytest.approx(norm, rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (["report", "--results", "{empty}"], "no run directory"),
    (["report", "--results", "{empty}", "--compile", "maybe"], "--compile must be one of"),
    (["report", "--results", "{empty}", "--input", "missing"], "--input missing"),
    (["examples", "--seed", "-1"], "--seed must be an integer"),
])
def test_cli_bad_input_exits_2(tmp_path, args, message):
    args = [arg.format(empty=tmp_path) for arg in args]
    result = subprocess.run([sys.executable, "mc_plotting.py", *args, "--out", str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "out").exists()
