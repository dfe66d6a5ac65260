"""Test configuration: the ``cuda`` marker. A test marked ``cuda`` needs a CUDA device and is
skipped, with the reason, where torch finds none (always in CI); ``pytest -m cuda`` runs only
these tests (gpu_check.sh does so on a GPU machine)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped with the reason where torch finds none")


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    import utils

    skip = pytest.mark.skip(reason=f"needs CUDA: {utils.cuda_absence()}")
    for item in marked:
        item.add_marker(skip)
