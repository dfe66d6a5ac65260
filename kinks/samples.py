"""The data every study starts from: the paper's six points (x_j, y_j) (X_DATA, Y_DATA) and the data
weights p = Multinomial(N, pi) / N of a run (``sample_weights``), with the rule that says how many
samples N a run of width n stands for (``SampleRule``, the option --samples: n^k, a fixed N, or the
population p = pi), and the data probabilities pi of one's own data (--probs: ``parse_probs``,
``check_probs``). Shared by the 1-D study and the star study."""
import re

import numpy as np

from kinks.checks import UsageError, require

X_DATA = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
Y_DATA = np.array([-1.0, 2.0, -1.0, 1.0, -2.0, 1.0])


def sample_weights(rng, runs, samples, m=X_DATA.size, probs=None):
    """Empirical weights of ``samples`` iid draws from m points with probabilities ``probs``
    (default uniform): Multinomial(samples, probs) / samples, (runs, m)."""
    probs = np.full(m, 1.0 / m) if probs is None else probs
    return rng.multinomial(samples, probs, size=runs) / samples


def parse_probs(probs):
    """The option --probs "p,p,..." (text, or the numbers the command line made of it) as a list of
    floats; None stays None. A value that is no number is a UsageError naming --probs."""
    if probs is None:
        return None
    try:
        return [float(v) for v in (probs if isinstance(probs, (list, tuple)) else str(probs).split(","))]
    except ValueError:
        raise UsageError(f"--probs must be numbers separated by commas; got {probs!r}") from None


def check_probs(probs, m):
    """The probabilities pi (m,) of m data points, in their order: uniform 1/m where ``probs`` is
    None; else pi_j > 0, one per point, summing to 1 within 1e-6, then divided by their sum (equal
    values become exactly 1/m, so uniform draws are those of no --probs). A UsageError naming --probs
    otherwise."""
    if probs is None:
        return np.full(m, 1.0 / m)
    probs = np.asarray(probs, dtype=float)
    require(probs.shape == (m,), f"--probs must give one probability per data point ({m}); got {probs.size}")
    require(np.all(np.isfinite(probs)) and np.all(probs > 0), f"--probs must be positive; got {probs.tolist()}")
    require(abs(probs.sum() - 1.0) <= 1e-6, f"--probs must sum to 1; they sum to {probs.sum()!r}")
    return np.full(m, 1.0 / m) if np.all(probs == probs[0]) else probs / probs.sum()


class SampleRule:
    """How many samples N a run of width n stands for, and its data weights (the option --samples).

    Forms: 'n^k' (k > 0; N = max(1, round(n^k)); 'n' is n^1; the paper's rule and the default is
    n^2), a fixed integer N >= 1, and 'population' (p = pi exactly, N = infinity: nothing is
    drawn). The weights of a finite N are p = Multinomial(N, pi) / N, drawn by ``draw``; with n^2
    the draws are exactly those of the code before the rule existed.

    Args:
        text: the option's value: 'n^k', an integer (or its text), or 'population'.
    Attributes:
        text: the canonical form, as recorded in run.json: 'n^2', 'n^1.5', '1000', 'population'.
    Raises:
        UsageError: any other value, in one line naming --samples and the forms allowed.
    Example:
        >>> rule = SampleRule("n^1.5")
        >>> rule.text, rule.count(16), rule.label(), rule.folder_part()
        ('n^1.5', 64, '$N=n^{1.5}$', 'samples_n1.5')
        >>> SampleRule(1000).count(16), SampleRule("population").count(16)
        (1000, inf)
    """

    DEFAULT = "n^2"
    FORMS = "n^k with k > 0 (default n^2), an integer N >= 1, or population"
    LARGEST = 2**53  # the largest N drawn (NumPy's multinomial counts in int64; floats are exact below)

    def __init__(self, text=DEFAULT):
        value = str(text).strip().replace(" ", "")
        self.power = self.fixed = None
        power = re.fullmatch(r"n(?:\^(.+))?", value)
        if value == "population":
            self.text = "population"
        elif power:
            try:
                self.power = float(power[1]) if power[1] is not None else 1.0
            except ValueError:
                self.power = None
            require(self.power is not None and np.isfinite(self.power) and self.power > 0,
                    f"--samples: the power k of n^k must be a number > 0; got {text!r}")
            self.text = f"n^{self.power:g}"
        else:
            number = float(value) if re.fullmatch(r"[0-9.eE+]+", value) and value.count(".") <= 1 else np.nan
            require(not isinstance(text, bool) and np.isfinite(number) and number >= 1 and number == int(number)
                    and number <= self.LARGEST, f"--samples must be {self.FORMS}; got {text!r}")
            self.fixed = int(number)
            self.text = str(self.fixed)

    def is_population(self):
        """Whether p = pi exactly (no sampling)."""
        return self.text == "population"

    def count(self, width):
        """N at width n: round(n^k) (at least 1), the fixed N, or inf for the population."""
        if self.power is not None:
            count = float(width) ** self.power
            require(count <= self.LARGEST, f"--samples {self.text} gives N = {count:.3g} at n = {width}, "
                                           f"above 2^53; use --samples population for p = pi")
            return max(1, int(round(count)))
        return self.fixed if self.fixed is not None else np.inf

    def draw(self, rng, runs, width, probs):
        """The data weights of ``runs`` runs at width n, (runs, m): Multinomial(N, pi) / N from
        ``rng`` (see ``sample_weights``), or pi itself in every row for the population (nothing
        drawn from ``rng``)."""
        if self.is_population():
            return np.tile(np.asarray(probs, dtype=float), (runs, 1))
        return sample_weights(rng, runs, self.count(width), probs=probs)

    def label(self):
        """'$N=n^{1.5}$', '$N=1000$' or '$N=\\infty$ ($p=\\pi$)', for legends and titles (math
        without spaces, so that a wrapped legend never breaks inside it)."""
        if self.is_population():
            return r"$N=\infty$ ($p=\pi$)"
        if self.power is not None:
            return "$N=n$" if self.power == 1 else f"$N=n^{{{self.power:g}}}$"
        return f"$N={self.fixed}$"

    def folder_part(self):
        """The part of a default folder name: 'samples_n1.5', 'samples_1000', 'samples_population'."""
        return "samples_" + self.text.replace("^", "")
