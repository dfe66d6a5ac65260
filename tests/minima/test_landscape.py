"""Tests of kinks.minima.landscape through the diagnose command: data of one's own with a leak, recorded
and used, one spectrum row per network of dimension 3n + 1, the figures written."""
import csv
import json

import pytest

import mc_minima
from kinks.checks import UsageError
from kinks.mc.data import parse_data
from mc_checks import SEVEN


@pytest.mark.slow
def test_diagnose_on_own_data_with_a_leak(tmp_path):
    mc_minima.diagnose(widths=[8], runs=3, pairs=6, max_epochs=2000, **SEVEN, leak=0.1, out=tmp_path)
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["leak"] == 0.1 and settings["probs"] == parse_data(**SEVEN).probs.tolist()
    rows = list(csv.DictReader((tmp_path / "diagnose.csv").open()))
    assert len(rows) == 3 and all(int(row["dimension"]) == 25 for row in rows)
    assert (tmp_path / "spectrum.png").stat().st_size > 0 and (tmp_path / "extremes.pdf").stat().st_size > 0
    with pytest.raises(UsageError, match="--leak"):
        mc_minima.diagnose(widths=[8], leak=1.0, out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
