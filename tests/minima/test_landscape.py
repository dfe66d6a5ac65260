"""Tests of kinks.minima.landscape through the diagnose command: data of one's own with a leak, recorded
and used, one spectrum row per network of dimension 3n + 1, the figures written; a stationary
point with kinks on points flagged, with its range over the sides and a table row of its own."""
import csv
import json

import numpy as np
import pytest

import mc_minima
from kinks.checks import UsageError
from kinks.mc.data import parse_data
from kinks.minima.hessian import kinks_on_points, side_extremes
from kinks.minima.landscape import format_diagnose_table, network_spectrum_rows
from kinks.samples import X_DATA, Y_DATA
from mc_checks import SEVEN, pinned_network


@pytest.mark.slow
def test_diagnose_on_own_data_with_a_leak(tmp_path):
    mc_minima.diagnose(widths=[8], runs=3, pairs=6, max_epochs=2000, **SEVEN, leak=0.1, out=tmp_path)
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["leak"] == 0.1 and settings["probs"] == parse_data(**SEVEN).probs.tolist()
    rows = list(csv.DictReader((tmp_path / "diagnose.csv").open()))
    assert len(rows) == 3 and all(int(row["dimension"]) == 25 for row in rows)
    assert all(int(row["kinks_on_points"]) >= 0 and float(row["lambda_max_low"]) <= float(row["lambda_max"])
               <= float(row["lambda_max_high"]) for row in rows)
    assert (tmp_path / "spectrum.png").stat().st_size > 0 and (tmp_path / "extremes.pdf").stat().st_size > 0
    with pytest.raises(UsageError, match="--leak"):
        mc_minima.diagnose(widths=[8], leak=1.0, out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_stationary_point_with_kinks_on_points_gets_its_range_and_a_row_of_its_own():
    a, b, c, w, p = pinned_network()
    out = dict(a=a[None], b=b[None], c=np.array([c]), w=w[None], status=np.array(["CROSSED"]),
               converged=np.array([True]), grad_norm=np.array([0.0]), loss=np.array([0.0]),
               linear_loss=np.array([0.0]))
    row = network_spectrum_rows(4, out, X_DATA, Y_DATA, p[None], 1e-6, 0.0)[0]
    units, points = kinks_on_points(a, b, X_DATA)
    extremes = side_extremes(a, b, c, w, X_DATA, Y_DATA, p, 0.0, units, points)  # held to autograd in test_hessian
    assert row["kinks_on_points"] == 2 and row["kink_margin"] == 0.0
    assert (row["lambda_max_low"], row["lambda_max_high"]) == (extremes[:, 1].min(), extremes[:, 1].max())
    assert row["lambda_min_low"] <= row["lambda_min"] <= row["lambda_min_high"]
    table = format_diagnose_table([row]).splitlines()
    assert len(table) == 2 and "on point" in table[1] and f"{extremes[:, 1].max():.3e}" in table[1]
