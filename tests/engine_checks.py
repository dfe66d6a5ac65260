"""Checks shared by the tests that train the same networks with two engines."""
import numpy as np


def assert_params_agree(first, second, networks, rtol):
    """a, b, c, w of the selected ``networks`` agree in both results within ``rtol``, relative to
    max(|value|, 1e-3 max|value|) so that parameters near 0 are held to the scale of the rest."""
    for key in "abcw":
        d, r = first[key][networks], second[key][networks]
        scale = np.maximum(np.abs(d), 1e-3 * np.abs(d).max())
        assert np.max(np.abs(d - r) / scale) < rtol, key
