"""The quick preset's chunks, bitwise: a digest of every array of every chunk file of
``mc_training.py run`` (quick preset) against the digest stored before the code was reorganised.
A change of any bit of any result (status, epoch, step size, ...) changes the digest."""
import hashlib

import numpy as np
import pytest

from conftest import run_script

QUICK_DIGEST = "5ad3414e4c7d3aa7b2a91b0707a1ed185e60419f9d5a5b404986eb6341ce695a"


def chunk_digest(run_dir):
    """sha256 over (relative path, array name, dtype, shape, bytes) of every chunk's arrays,
    in sorted order: independent of the zip container's timestamps."""
    digest = hashlib.sha256()
    for path in sorted(run_dir.rglob("chunk_*.npz")):
        with np.load(path, allow_pickle=False) as arrays:
            for name in sorted(arrays.files):
                array = arrays[name]
                for part in (str(path.relative_to(run_dir)), name, str(array.dtype), str(array.shape)):
                    digest.update(part.encode())
                digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_quick_preset_chunks_are_bitwise_unchanged(tmp_path):
    result = run_script("mc_training.py", "run", "--jobs", "2", "--out", tmp_path / "quick", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "quick").rglob("chunk_*.npz"))) == 6
    assert chunk_digest(tmp_path / "quick") == QUICK_DIGEST
