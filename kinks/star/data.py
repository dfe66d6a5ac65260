"""The data of the star study (Holzmüller & Steinwart, Section 7): the paper's six 1-D points, the
same points on lines through the origin in the plane, the star of k rays, points on the d axes of
R^d (``make_data``), one's own data from a CSV file (``read_data_file``, the options --data and
--probs: a ``DataFile``), and the linear-regression threshold of every network
(``regression_thresholds``: the loss a network reaches at best while none of its kinks crosses a
data point), computed per ray of points from the origin (``ray_groups``). NumPy, float64; X (m, d),
y (m,), p (P, m)."""
import csv
import hashlib
import re
from pathlib import Path

import numpy as np

from kinks.checks import MAGNITUDE, UsageError, require
from kinks.files import file_slug
from kinks.samples import X_DATA, Y_DATA, check_probs, parse_probs

STAR_OFFSET, STAR_LABELS = 0.1, np.array([1.0, -2.0, 1.0])
DATA_SEED = 1
RAY_TOLERANCE = 1e-5   # two points lie on one ray when their directions differ by at most this


def standard_data():
    """The paper's six 1-D points: X (6, 1), y (6,)."""
    return X_DATA[:, None], Y_DATA.copy()


def on_lines(directions):
    """The six standard points placed along each direction u (rows of ``directions``, (k, 2)):
    points x u, in the order of the directions; labels repeated. X (6k, 2), y (6k,)."""
    directions = np.asarray(directions, float)
    X = (directions[:, None, :] * X_DATA[None, :, None]).reshape(-1, 2)
    return X, np.tile(Y_DATA, len(directions))


def star_data(k):
    """k rays at angles 2 pi i / k, points at radii 1 - s, 1, 1 + s (s = STAR_OFFSET = 0.1) with labels
    (1, -2, 1): X (3k, 2) ordered ray by ray, y (3k,)."""
    angles = 2 * np.pi * np.arange(k) / k
    radii = 1 + STAR_OFFSET * np.array([-1.0, 0.0, 1.0])
    rays = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return (rays[:, None, :] * radii[None, :, None]).reshape(-1, 2), np.tile(STAR_LABELS, k)


def random_with_line_data():
    """The six standard points on the second axis, then six standard-normal points with
    standard-normal labels (numpy seed 1): X (12, 2), y (12,)."""
    rng = np.random.default_rng(DATA_SEED)
    X_line, y_line = on_lines([[0.0, 1.0]])
    X_random = rng.standard_normal((6, 2))
    return np.concatenate([X_line, X_random]), np.concatenate([y_line, rng.standard_normal(6)])


def multi_axis_data(d):
    """On each of the d axes of R^d five points x e_i, x ~ U(1, 2), labels y ~ U(-1, 1) minus that
    axis's (unweighted) least-squares intercept beta_i of y ~ alpha_i x + beta_i (numpy seed 1).
    X (5d, d) ordered axis by axis, y (5d,)."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.uniform(1.0, 2.0, (d, 5))
    y = rng.uniform(-1.0, 1.0, (d, 5))
    slope = ((x - x.mean(1, keepdims=True)) * (y - y.mean(1, keepdims=True))).sum(1) / \
        ((x - x.mean(1, keepdims=True)) ** 2).sum(1)
    intercept = y.mean(1) - slope * x.mean(1)
    X = (np.eye(d)[:, None, :] * x[:, :, None]).reshape(-1, d)
    return X, (y - intercept[:, None]).reshape(-1)


FIXED_DATASETS = {
    "standard": standard_data,
    "cross": lambda: on_lines([[0.0, 1.0], [1.0, 0.0]]),
    "double_cross": lambda: on_lines([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, -1.0]]),
    "random_with_line": random_with_line_data,
}
DATASET_NAMES = tuple(FIXED_DATASETS) + ("star_<k>", "multi_axis_<d>")


def make_data(name):
    """Training inputs X (m, d) and labels y (m,) of data set ``name`` (float64 numpy arrays):
    standard, cross, double_cross, random_with_line, star_<k> (k >= 1) or multi_axis_<d> (d >= 1)."""
    match = re.fullmatch(r"(star|multi_axis)_([1-9]\d*)", name) if isinstance(name, str) else None
    require(name in FIXED_DATASETS or match is not None,
            f"--dataset must be one of {', '.join(DATASET_NAMES)}; got {name!r}")
    if match is None:
        return FIXED_DATASETS[name]()
    return (star_data if match[1] == "star" else multi_axis_data)(int(match[2]))


# ============================================================================= one's own data
class DataFile:
    """One's own data of the star study (--data FILE, --probs): points X (m, d), targets y (m,) and
    probabilities pi (m,), read from the file ``name`` (its name without the folder).

    Its identity, 'name#h' with h the first 12 hex digits of SHA-256 over (m, d), X, y and pi as
    float64, names its content: a run records it with the data themselves (``record``), so that it
    resumes and reports without the file, and a changed file (or --probs) is refused rather than
    mixed. Its data-set name is file_<name without suffix> (the folder below <results>/star)."""

    def __init__(self, name, X, y, probs):
        self.name = name
        # contiguous copies: a column of the file's table is a strided view, and the compiled engine
        # would compile its loops again for that layout (about 45 s)
        self.X = np.ascontiguousarray(np.asarray(X, dtype=float).reshape(len(y), -1))
        self.y, self.probs = np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(probs, dtype=float)
        digest = hashlib.sha256(np.array(self.X.shape, dtype=np.int64).tobytes())
        for values in (self.X, self.y, self.probs):
            digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        self.identity = f"{name}#{digest.hexdigest()[:12]}"
        self.dataset = "file_" + (file_slug(Path(name).stem) or "data")

    def record(self):
        """The data as plain lists, recorded beside the identity: dict(x, y, probs)."""
        return dict(x=self.X.tolist(), y=self.y.tolist(), probs=self.probs.tolist())

    @classmethod
    def from_record(cls, identity, record):
        """The DataFile of a recorded identity and ``record``; a ValueError where they disagree."""
        name = identity.rpartition("#")[0]
        data = cls(name, record["x"], record["y"], record["probs"])
        if data.identity != identity:
            raise ValueError(f"its recorded data do not match their identity {identity}")
        return data


def csv_rows(path):
    """The non-empty rows of the CSV file ``path`` as lists of text; a UsageError naming --data where
    there is no such file or it cannot be read as text."""
    require(path.exists(), f"--data: no file {path}")
    require(path.is_file(), f"--data: {path} is not a file")
    try:
        with open(path, newline="", encoding="utf-8") as file:
            return [row for row in csv.reader(file) if any(field.strip() for field in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"--data: cannot read {path} as CSV text ({getattr(error, 'strerror', None) or error})") \
            from None


def number_or_none(text):
    """A CSV field as a float, or None where it is no number."""
    try:
        return float(text)
    except ValueError:
        return None


def numeric_rows(rows, path):
    """The rows x1,...,xd,y as an (m, d + 1) float array. The first row is a header, and skipped,
    when none of its fields is a number. Refused (UsageError naming --data): rows of unequal length,
    fewer than 2 columns or 2 rows, a field that is no number, a value not finite or above 1e6."""
    if rows and all(number_or_none(field) is None for field in rows[0]):
        rows = rows[1:]
    require(len(rows) >= 2, f"--data: {path} holds {len(rows)} data row(s); at least 2 rows x1,...,xd,y needed")
    width = len(rows[0])
    require(width >= 2, f"--data: rows of {path} must be x1,...,xd,y with d >= 1; the first has {width} value(s)")
    values = np.empty((len(rows), width))
    for i, row in enumerate(rows):
        require(len(row) == width, f"--data: every row of {path} must have {width} values, as the first; "
                                   f"data row {i + 1} has {len(row)}")
        numbers = [number_or_none(field) for field in row]
        bad = next((field for field, number in zip(row, numbers) if number is None), None)
        require(bad is None, f"--data: data row {i + 1} of {path} holds {bad!r}, which is no number")
        values[i] = numbers
    require(np.all(np.isfinite(values)) and np.all(np.abs(values) <= MAGNITUDE),
            f"--data: every value in {path} must be finite, of size at most {MAGNITUDE:g}")
    return values


def read_data_file(data, probs=None):
    """The DataFile of the options --data FILE (a CSV file of rows x1,...,xd,y, d >= 1, at least 2
    rows, a header line optional: see ``numeric_rows``) and --probs "p,p,..." (one per row, as in
    the 1-D study: ``kinks.samples.check_probs``; default uniform). Bad input is a UsageError in one
    line naming the option."""
    require(isinstance(data, (str, Path)) and str(data).strip(), f"--data must name a CSV file; got {data!r}")
    path = Path(data)
    values = numeric_rows(csv_rows(path), path)
    return DataFile(path.name, values[:, :-1], values[:, -1], check_probs(parse_probs(probs), len(values)))


# ============================================================================= thresholds
def ray_groups(X, tolerance=RAY_TOLERANCE):
    """The training points grouped by direction u_j = x_j / |x_j| (points on one ray from the
    origin; the published rule: directions equal within 1e-5): point j joins the first group whose
    leading point l has |u_j - u_l| <= tolerance, else it leads a new group. A list of index arrays
    in order of first appearance; the origin (u = 0) forms its own group. X (m, d)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    directions = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    leaders, group_of = [], np.empty(len(X), dtype=int)
    for j, u in enumerate(directions):
        near = np.flatnonzero(np.linalg.norm(directions[leaders] - u, axis=1) <= tolerance) if leaders else []
        if len(near) == 0:
            leaders.append(j)
        group_of[j] = near[0] if len(near) else len(leaders) - 1
    return [np.flatnonzero(group_of == g) for g in range(len(leaders))]


def regression_thresholds(X, y, p, min_points=3):
    """The linear-regression threshold of every network, (P,):

        T = 1/2 sum_{rays g, |g| >= 3} min_{alpha, beta} sum_{j in g} p_j (y_j - alpha |x_j| - beta)^2,

    with the weighted least-squares residual in closed form, RSS = S_yy - S_ry^2 / S_rr, where
    S_ab = sum_j p_j (a_j - a_bar)(b_j - b_bar) and a_bar = sum_j p_j a_j / sum_j p_j (RSS = S_yy
    when all weight sits at one radius, S_rr <= 1e-14 sum_j p_j |x_j|^2, a test that does not depend
    on the scale of x or y; 0 without weight). Any data: d >= 1, points in any order (rays in order of
    their first point), repeated points, points at the origin (a group of their own). X (m, d),
    y (m,), p (P, m)."""
    radius = np.linalg.norm(X, axis=1)
    total = np.zeros(p.shape[0])
    for group in ray_groups(X):
        if len(group) < min_points:
            continue
        q, r, t = p[:, group], radius[group], y[group]           # the ray's weights, radii, labels
        mass = q.sum(1, keepdims=True)
        safe = np.where(mass > 0, mass, 1.0)
        r_c, t_c = r - (q * r).sum(1, keepdims=True) / safe, t - (q * t).sum(1, keepdims=True) / safe
        s_rr, s_ry, s_yy = ((q * r_c * r_c).sum(1), (q * r_c * t_c).sum(1), (q * t_c * t_c).sum(1))
        explained = np.divide(s_ry ** 2, s_rr, out=np.zeros_like(s_rr), where=s_rr > 1e-14 * (q * r * r).sum(1))
        total += np.maximum(s_yy - explained, 0.0)
    return 0.5 * total
