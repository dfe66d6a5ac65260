"""Tests of the trace study (kinks.minima.trace, mc_minima.py trace): every metric at a saved state against
an independent computation (torch autograd Hessian and per-sample gradients in float64, norms and
cosines directly), the last traced epoch against diagnose's spectra of the same networks, the
traced epochs, the AUC against a pair count, and the command as a user runs it."""
import csv

import numpy as np
import pytest
import torch

import mc_minima
from conftest import call_script
from kinks.files import load_json, load_npz, save_json, save_npz
from kinks.minima.hessian import flat_params
from kinks.minima.landscape import network_spectrum_rows
from kinks.minima.stationary import train_to_stationarity
from kinks.minima.trace import (
    KINK_METRICS, TOP, auc, sharpness_rows, simulate_trace_chunk, state_metrics, trace_config, trace_epochs,
    trace_problems)
from kinks.samples import X_DATA, Y_DATA
from mc_checks import pinned_network, torch_theta_loss


def independent_metrics(params, initial, x, y, p, pi, h, leak):
    """The trace's metrics of one network by autograd (Hessian, per-sample gradients) and direct
    formulas, float64."""
    a, b, c, w = params
    theta = torch.tensor(flat_params(a, b, c, w), requires_grad=True)
    H = torch.autograd.functional.hessian(lambda t: torch_theta_loss(t, x, y, p, leak), theta).numpy()
    loss = torch_theta_loss(theta, x, y, p, leak)
    gradient = torch.autograd.grad(loss, theta)[0].numpy()
    per_sample = np.stack([torch.autograd.grad(torch_theta_loss(theta, x, y, np.eye(len(x))[j], leak), theta)[0].numpy()
                           for j in range(len(x))])  # g_j (m, 3n + 1)
    centred = per_sample - p @ per_sample
    covariance = centred.T @ (p[:, None] * centred)
    values, vectors = np.linalg.eigh(H)
    theta = theta.detach().numpy()
    start = flat_params(*initial)
    direct_cos = lambda u, v: u @ v / (np.linalg.norm(u) * np.linalg.norm(v))  # noqa: E731
    return dict(loss=loss.item(), risk=float(torch_theta_loss(torch.tensor(theta), x, y, pi, leak)),
                grad_norm=np.linalg.norm(gradient), hessian_top=values[::-1][:TOP], hessian_min=values[0],
                sharpness=values[-1] * h, grad_cosine=np.abs(vectors[:, ::-1][:, :TOP].T @ gradient)
                / np.linalg.norm(gradient), covariance=np.linalg.eigvalsh(covariance)[::-1][:len(x) - 1],
                weight_norm=np.linalg.norm(theta), init_cosine=direct_cos(theta, start),
                init_distance=np.linalg.norm(theta - start)), np.linalg.matrix_rank(covariance)


@pytest.mark.parametrize("leak, kinks", [(0.0, "gap"), (0.0, "spread"), (0.2, "spread")])
def test_every_metric_equals_autograd_and_direct_formulas(leak, kinks):
    rng = np.random.default_rng(7)
    n, P = 6, 3
    x, y = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]), np.array([-1.0, 2.0, -1.0, 1.0, -2.0, 1.0])
    a, w = rng.normal(0, np.sqrt(2), (P, n)), rng.normal(0, np.sqrt(2 / n), (P, n))
    spots = rng.uniform(-0.5, 0.5, (P, n)) if kinks == "gap" else \
        rng.choice([-3.5, -2.5, -1.5, 0.0, 1.5, 2.5, 3.5], (P, n)) + rng.uniform(-0.3, 0.3, (P, n))
    b, c = -a * spots, rng.normal(size=P)
    initial = (a + rng.normal(0, 0.1, a.shape), np.zeros_like(a), np.zeros(P), w + rng.normal(0, 0.1, w.shape))
    p = rng.multinomial(n * n, np.full(6, 1 / 6), P) / (n * n)
    pi, h = np.array([0.1, 0.2, 0.1, 0.3, 0.2, 0.1]), rng.uniform(0.01, 0.1, P)
    ours = state_metrics((a, b, c, w), initial, x, y, p, pi, h, leak)
    for k in range(P):
        expected, rank = independent_metrics([q[k] for q in (a, b, c, w)], [q[k] for q in initial], x, y, p[k], pi,
                                             h[k], leak)
        scale = max(abs(expected["hessian_top"][0]), abs(expected["hessian_min"]))
        for name, value in expected.items():
            atol = 1e-9 * (scale if name.startswith("hessian") else 1.0)
            if name == "covariance":
                atol = 1e-9 * value[0]
            np.testing.assert_allclose(ours[name][k], value, rtol=1e-9, atol=atol, err_msg=name)
        assert rank <= len(x) - 1  # the covariance under p has rank at most m - 1
        if kinks == "gap" and leak == 0:  # f affine on each side: rank J = 4, so rank C <= 4
            assert rank <= 4 and ours["covariance"][k, -1] < 1e-10 * ours["covariance"][k, 0]
    assert np.all(ours["kinks_on_points"] == 0) and np.all(ours["kink_margin"] > 1e-6)  # smooth: one side
    for bound in ("low", "high"):
        np.testing.assert_array_equal(ours[f"lambda_max_{bound}"], ours["hessian_top"][:, 0])
        np.testing.assert_array_equal(ours[f"lambda_min_{bound}"], ours["hessian_min"])


@pytest.mark.parametrize("leak", [0.0, 0.2])
def test_kinks_on_points_are_counted_with_the_range_over_every_side_from_autograd(leak):
    a, b, c, w, p = pinned_network()
    smooth = b + a * np.array([-0.3, 0.4, 0.0, 0.0])  # the same units with their kinks off the points
    params = (np.stack([a, a]), np.stack([b, smooth]), np.array([c, c]), np.stack([w, w]))
    ours = state_metrics(params, params, X_DATA, Y_DATA, np.stack([p, p]), np.full(6, 1 / 6), np.full(2, 0.05),
                         leak)
    assert ours["kinks_on_points"].tolist() == [2, 0]
    assert ours["kink_margin"][0] == 0.0 and ours["kink_margin"][1] == pytest.approx(0.1)
    theta = torch.tensor(flat_params(a, b, c, w))
    sides = []
    for at_two, at_minus_one in [(False, False), (False, True), (True, False), (True, True)]:
        active = X_DATA[:, None] * a + b > 0
        active[4, 0], active[2, 1] = at_two, at_minus_one  # x_4 = 2, x_2 = -1
        H = torch.autograd.functional.hessian(
            lambda t, active=active: torch_theta_loss(t, X_DATA, Y_DATA, p, leak, active), theta)
        values = np.linalg.eigvalsh(H.numpy())
        sides.append((values[0], values[-1]))
    lowest, highest = np.min(sides, 0), np.max(sides, 0)
    scale = highest[1]
    np.testing.assert_allclose([ours["lambda_min_low"][0], ours["lambda_max_low"][0]], lowest, atol=1e-12 * scale)
    np.testing.assert_allclose([ours["lambda_min_high"][0], ours["lambda_max_high"][0]], highest, atol=1e-12 * scale)
    assert ours["lambda_max_low"][0] <= ours["hessian_top"][0, 0] <= ours["lambda_max_high"][0]
    assert ours["lambda_max_low"][1] == ours["lambda_max_high"][1] == ours["hessian_top"][1, 0]


@pytest.mark.slow
def test_last_traced_epoch_agrees_with_diagnose_on_the_same_networks():
    config = trace_config([0.0], [16], 12, 3, "gd", "theory", 3000, 5, 12)
    traces = simulate_trace_chunk(config, 0.0, 16, 0, 12)
    _, x, y, p, (a, b, c, w), h = trace_problems(config, 0.0, 16, 0, 12)
    out = train_to_stationarity(x, y, p, a, b, c, w, h, 0.0, 3000, 3000, keep_params=True)
    rows = network_spectrum_rows(16, out, x, y, p, 1e-6, 0.0)
    np.testing.assert_array_equal(traces["status"] == "CROSSED", out["status"] == "CROSSED")
    np.testing.assert_array_equal(traces["first_cross_epoch"], out["first_cross_epoch"])
    for key, column in (("lambda_max", traces["hessian_top"][:, -1, 0]), ("lambda_min", traces["hessian_min"][:, -1]),
                        ("grad_norm", traces["grad_norm"][:, -1]), ("loss", traces["loss"][:, -1])):
        expected = np.array([row[key] for row in rows])
        np.testing.assert_allclose(column, expected, rtol=1e-6, atol=1e-9, err_msg=key)
    np.testing.assert_allclose(traces["risk"][:, -1], out["risk"], rtol=1e-6)


def test_traced_epochs_are_log_spaced_with_first_and_last():
    epochs = trace_epochs(100_000, 50)
    assert epochs[0] == 0 and epochs[-1] == 100_000 and np.all(np.diff(epochs) > 0)
    late = epochs[(epochs >= 1000) & (epochs <= 10_000)]
    assert 49 <= len(late) <= 51  # one decade: 50 epochs once they are distinct
    assert trace_epochs(7, 50).tolist() == list(range(8))


def test_auc_equals_the_pair_count():
    rng = np.random.default_rng(2)
    positives, negatives = rng.normal(0.8, 1, 30).round(1), rng.normal(0, 1, 50).round(1)  # with ties
    pairs = np.mean((positives[:, None] > negatives) + 0.5 * (positives[:, None] == negatives))
    A, low, high = auc(positives, negatives)
    assert A == pytest.approx(pairs, abs=1e-12) and low < A < high
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0]))[0] == 1.0


def test_sharpness_summary_splits_smooth_and_kink_on_point_states():
    rng = np.random.default_rng(3)
    epochs, status = np.array([0, 1, 2, 5]), np.array(["CROSSED"] * 4 + ["UNFINISHED"] * 2)
    cross = np.array([1, 2, 0, 5, -1, -1])
    N, T = len(status), len(epochs)
    sharpness, h = rng.uniform(1.0, 3.0, (N, T)), rng.uniform(0.01, 0.1, N)
    on = rng.integers(1, 3, (N, T)) * (rng.random((N, T)) < 0.4)
    spread = rng.uniform(0.0, 1.0, (2, N, T)) * (on > 0) / h[:, None]
    pooled = dict(offset=np.zeros(N), width=np.full(N, 8), network=np.arange(N), status=status, first_cross_epoch=cross,
                  step_size=h, sharpness=sharpness, kinks_on_points=on,
                  lambda_max_low=sharpness / h[:, None] - spread[0],
                  lambda_max_high=sharpness / h[:, None] + spread[1], epochs=epochs)
    rows = sharpness_rows(pooled)
    kinds = {"all": lambda i, t: True, "smooth": lambda i, t: on[i, t] == 0, "kink_on_point": lambda i, t: on[i, t] > 0}
    assert [(r["group"], r["states"]) for r in rows] == [(g, k) for g in ("stayed", "crossed") for k in kinds]
    for row in rows:
        counts = dict(traced_states=0, epochs_above=0, epochs_above_before_crossing=0, epochs_above_every_side=0,
                      epochs_above_some_side=0)
        shares = []
        for i in [i for i in range(N) if (status[i] == "CROSSED") == (row["group"] == "crossed")]:
            mine = 0
            for t in range(T):
                if not kinds[row["states"]](i, t):
                    continue
                counts["traced_states"] += 1
                mine += sharpness[i, t] > 2
                counts["epochs_above"] += sharpness[i, t] > 2
                counts["epochs_above_before_crossing"] += sharpness[i, t] > 2 and (cross[i] < 0 or epochs[t] < cross[i])
                counts["epochs_above_every_side"] += pooled["lambda_max_low"][i, t] * h[i] > 2
                counts["epochs_above_some_side"] += pooled["lambda_max_high"][i, t] * h[i] > 2
            shares.append(mine / T)
        assert {key: row[key] for key in counts} == counts, row
        assert row["fraction_above"] == pytest.approx(np.mean(shares))
    for group in (0, 3):  # the smooth and the kink-on-point shares add up to all
        assert rows[group]["fraction_above"] == pytest.approx(rows[group + 1]["fraction_above"]
                                                              + rows[group + 2]["fraction_above"])
    before = {key: value for key, value in pooled.items() if key not in KINK_METRICS}  # a trace from before
    old = sharpness_rows(before)
    assert [r["states"] for r in old] == ["all", "all"] and "epochs_above_every_side" not in old[0]
    assert [{k: v for k, v in r.items() if k in old[0]} for r in rows if r["states"] == "all"] == old


@pytest.mark.slow
def test_trace_chunk_is_reproducible_from_its_seed_with_minibatches():
    config = trace_config([0.0], [8], 4, 0, "sgd", "small", 50, 5, 4)
    first, again = simulate_trace_chunk(config, 0.0, 8, 0, 4), simulate_trace_chunk(config, 0.0, 8, 0, 4)
    for key, value in first.items():
        np.testing.assert_array_equal(value, again[key])
    assert np.all(np.isfinite(first["loss"])) and first["kinks_on_points"].dtype.kind == "i"


@pytest.mark.slow
def test_trace_command_writes_results_resumes_and_refuses_bad_input(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    args = ["trace", "--widths", "8", "--runs", "12", "--epochs", "200", "--per_decade", "5", "--chunk_size", "6",
            "--jobs", "1", "--out", out]
    code, printed, _ = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", *args)
    assert code == 0 and "epochs with lambda_max > 2/h" in printed
    for name in ("trace.csv", "trace.npz", "settings.json", "sharpness.csv", "auc.csv", "trace_0_8.png",
                 "trace_0_8.pdf", "auc.png", "auc.pdf"):
        assert (out / name).exists(), name
    rows = (out / "trace.csv").read_text().splitlines()
    assert len(rows) == 1 + 12 * len(trace_epochs(200, 5)) and "kinks_on_points" in rows[0]
    assert [r["states"] for r in csv.DictReader((out / "sharpness.csv").open())] == \
        ["all", "smooth", "kink_on_point"] * 2
    code, printed, _ = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", *args)
    assert code == 0 and "2 of 2 chunks already finished" in printed
    code, _, errors = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", *args[:-2], "--epochs", "300",
                                  "--out", out)
    assert code == 2 and "--epochs" in errors[0]


@pytest.mark.slow
def test_a_trace_from_before_kinks_on_points_reports_as_it_is_and_is_not_resumed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    args = ["trace", "--widths", "8", "--runs", "6", "--epochs", "100", "--per_decade", "3", "--chunk_size", "3",
            "--jobs", "1", "--out", out]
    assert call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", *args)[0] == 0
    for path in [out / "run.json", *out.rglob("chunk_*.json")]:  # written before: no tolerance, no kink arrays
        record = load_json(path)
        del record["config"]["kink_tolerance"]
        save_json(path, record)
    for path in out.rglob("chunk_*.npz"):
        save_npz(path, **{key: value for key, value in load_npz(path).items() if key not in KINK_METRICS})
    code, printed, _ = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", *args)
    assert code == 0 and "2 of 2 chunks already finished" in printed and "kinks on points: not recorded" in printed
    assert {r["states"] for r in csv.DictReader((out / "sharpness.csv").open())} == {"all"}
    assert "epochs_above_every_side" not in (out / "sharpness.csv").read_text().splitlines()[0]
    assert "kinks_on_points" not in (out / "trace.csv").read_text().splitlines()[0]
    unfinished = next(out.rglob("chunk_00001.npz"))
    unfinished.unlink()
    unfinished.with_suffix(".json").unlink()
    code, printed, errors = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", *args)
    assert code == 2 and len(errors) == 1 and "--out" in errors[0] and "1 chunks unfinished" in errors[0]
    assert not unfinished.exists()  # nothing computed into the old folder


@pytest.mark.parametrize("args, option", [(["--optimizer", "sgdd"], "--optimizer"), (["--epochs", "0"], "--epochs"),
                                          (["--step", "big"], "--step"), (["--per_decade", "x"], "--per_decade"),
                                          (["--width", "16"], "--width")])
def test_trace_bad_input_gives_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, args, option):
    code, printed, errors = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", "trace", *args,
                                        "--out", tmp_path / "run")
    assert (code, printed, len(errors)) == (2, "", 1) and errors[0].startswith("error:") and option in errors[0]
    assert not (tmp_path / "run").exists()


def test_samples_rule_reaches_the_trace_problems_and_its_folder(tmp_path, monkeypatch):
    config = trace_config([0.0], [8], 6, 0, "gd", "theory", 10, 5, 3, samples="population")
    assert config["samples"] == "population"
    _, x, _, p, _, _ = trace_problems(config, 0.0, 8, 0, 3)
    assert np.array_equal(p, np.full((3, len(x)), 1 / len(x)))  # p = pi exactly in every run
    default = trace_config([0.0], [8], 6, 0, "gd", "theory", 10, 5, 3)
    assert default["samples"] == "n^2" and not np.array_equal(trace_problems(default, 0.0, 8, 0, 3)[3], p)
    monkeypatch.setenv("KINKS_RESULTS", str(tmp_path))
    assert mc_minima.run_folder(None, "trace", config)[0].name == "trace-samples_population"
    assert mc_minima.run_folder(None, "trace", default)[0].name == "trace"


@pytest.mark.parametrize("samples", ["n^0", "many"])
def test_trace_bad_samples_give_one_line(tmp_path, monkeypatch, capsys, samples):
    code, _, errors = call_script(monkeypatch, capsys, mc_minima, "mc_minima.py", "trace", "--samples", samples,
                                  "--out", tmp_path / "run")
    assert code == 2 and len(errors) == 1 and "--samples" in errors[0] and not (tmp_path / "run").exists()
