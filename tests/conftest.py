"""Test configuration: the ``cuda`` marker. A test marked ``cuda`` needs a CUDA device and is
skipped, with the reason, where torch finds none (always in CI); ``pytest -m cuda`` runs only
these tests (gpu_check.sh does so on a GPU machine)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import utils  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped with the reason where torch finds none")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs CUDA: {utils.cuda_absence()}")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
