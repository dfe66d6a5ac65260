"""The star study's configuration (Holzmüller & Steinwart, Section 7): ``StarConfig``, every setting
that decides a result (data set or one's own data file, width n, layers L, networks P, activation,
bias, step rule and its factor, seed, dtype, the samples N of the data weights), parsed and
validated once, with its folder name and its data (``training_data``, the one source of X, y and pi
for every engine); and the presets, the configurations and epoch stages of the published
experiments."""
import math

import numpy as np

from kinks.checks import check_choice, check_float, check_int, require
from kinks.paths import results_root
from kinks.samples import SampleRule
from kinks.star.data import DataFile, make_data

ACTIVATIONS = ("relu", "tanh")
DTYPES = ("float32", "float64")
STEP_RULES = ("gram", "published")
OLD_STEP_RULES = {"ntk": "gram"}                      # old name: new name (read from files silently)
DEFAULT_LR_FACTOR = {"gram": 1.0, "published": 2.0}   # published: the effective step 2 / |theta|^2


# ============================================================================= configuration
class StarConfig:
    """Every setting that decides a result of the star study, validated (a bad value is a
    UsageError naming its option), except the epoch count and the device. lr_factor None: the
    step rule's default (``DEFAULT_LR_FACTOR``). The old step rule name ``ntk`` is read as ``gram``
    without a word (the command line warns where a user types it).

    samples: the rule for N of the data weights p = Multinomial(N, pi) / N (``SampleRule``: n^k,
    an integer N or population, p = pi; default n^2, the paper's N = n^2). data: None (the data set
    ``dataset``, default star_11, uniform pi) or a ``DataFile`` (one's own points and pi); then
    ``dataset`` is its data-set name file_<name> and the setting ``data`` its identity 'name#hash'."""

    SETTINGS = ("dataset", "width", "layers", "runs", "activation", "random_bias", "step", "lr_factor", "seed",
                "dtype", "samples", "data")
    DEFAULTS = dict(samples=SampleRule.DEFAULT, data=None)   # the settings added later: folders without them

    def __init__(self, dataset=None, width=256, layers=1, runs=1000, activation="relu", random_bias=False,
                 step="gram", lr_factor=None, seed=0, dtype="float32", samples=SampleRule.DEFAULT, data=None):
        if data is None:
            dataset = "star_11" if dataset is None else dataset
            make_data(dataset)
        else:
            require(dataset in (None, data.dataset), f"--data and --dataset exclude each other; got both ({dataset})")
            dataset = data.dataset
        require(isinstance(random_bias, bool), f"--random_bias must be true or false; got {random_bias!r}")
        step = check_choice("step", OLD_STEP_RULES.get(step, step), STEP_RULES)
        self.dataset, self.width, self.layers = dataset, check_int("width", width), check_int("layers", layers)
        self.runs = check_int("runs", runs)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.random_bias, self.step = random_bias, step
        self.lr_factor = check_float("lr_factor", DEFAULT_LR_FACTOR[step] if lr_factor is None else lr_factor, 0,
                                     strict=True, maximum=100)
        self.seed, self.dtype = check_int("seed", seed, minimum=0), check_choice("dtype", dtype, DTYPES)
        self.samples, self.data_file = SampleRule(samples).text, data
        self.data = None if data is None else data.identity

    @classmethod
    def from_dict(cls, saved):
        """The configuration of a config.json (or a state's or result's ``config``), also as written by
        older versions: 'n_networks' for 'runs', no 'step' (the Gram rule, the only one then), or
        step 'ntk'; no 'samples' and 'data' (n^2 and a data set). A ValueError where its settings are
        not those of this version or its recorded data ('points') do not match their identity."""
        saved = {**cls.DEFAULTS, **saved}
        if "n_networks" in saved:
            saved["runs"] = saved.pop("n_networks")
        saved.setdefault("step", "gram")
        points = saved.pop("points", None)
        if set(saved) != set(cls.SETTINGS) or (saved["data"] is None) != (points is None):
            raise ValueError(f"its settings {sorted(saved)} are not those of this version ({', '.join(cls.SETTINGS)})")
        if saved["data"] is not None:
            saved["data"] = DataFile.from_record(saved["data"], points)
        return cls(**saved)

    def as_dict(self):
        """The settings, and with one's own data its points ('points': x, y, probs): what config.json,
        state.pt and result.json record."""
        settings = {key: getattr(self, key) for key in self.SETTINGS}
        return settings if self.data_file is None else {**settings, "points": self.data_file.record()}

    def training_data(self):
        """The data every engine trains on: X (m, d), y (m,) and pi (m,), float64."""
        if self.data_file is not None:
            return self.data_file.X, self.data_file.y, self.data_file.probs
        X, y = make_data(self.dataset)
        return X, y, np.full(len(y), 1.0 / len(y))

    def differences(self, other):
        """The settings in which ``other`` differs from this configuration, in words:
        'samples 100 here, n^2 there; ...'."""
        return "; ".join(f"{key} {getattr(self, key)} here, {getattr(other, key)} there"
                         for key in self.SETTINGS if getattr(self, key) != getattr(other, key))

    def __eq__(self, other):
        return isinstance(other, StarConfig) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"StarConfig({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"

    def replace(self, **changes):
        """The configuration with ``changes`` (a step rule changed without lr_factor takes its default)."""
        settings = {**{key: getattr(self, key) for key in self.SETTINGS}, "data": self.data_file}
        if "step" in changes and "lr_factor" not in changes:
            settings["lr_factor"] = None
        return StarConfig(**{**settings, **changes})

    def label(self, step=None):
        """Folder name, e.g. L1_n256_P1000_relu_zerobias_gram-lr1_seed0_float32 (``step``: another name
        of the step rule, for the folders of older versions), followed by the samples where they are
        not n^2 (..._float32_samples_population), so that the folders of older versions keep their
        names."""
        bias = "randbias" if self.random_bias else "zerobias"
        samples = "" if self.samples == SampleRule.DEFAULT else "_" + SampleRule(self.samples).folder_part()
        return (f"L{self.layers}_n{self.width}_P{self.runs}_{self.activation}_{bias}_"
                f"{step or self.step}-lr{self.lr_factor:g}_seed{self.seed}_{self.dtype}{samples}")

    def folder(self, results=None):
        """<results>/star/<dataset>/<label>/ (results: default the results root; with one's own data
        the data-set name is file_<file name>, and a changed file lands in the same folder, where it is
        refused: ``kinks.star.training.open_folder``). A folder written before
        the step rule ``ntk`` became ``gram`` (named ..._ntk-lr...) is used where it exists and the new
        one does not, so that its training resumes there."""
        parent = results_root(results) / "star" / self.dataset
        new = parent / self.label()
        old = [parent / self.label(name) for name, rule in OLD_STEP_RULES.items() if rule == self.step]
        return next((folder for folder in old if folder.exists() and not new.exists()), new)

    def uses_relu_epoch(self):
        """The fast ReLU epoch serves one hidden layer of ReLU units; autograd everything else."""
        return self.activation == "relu" and self.layers == 1


# ============================================================================= presets
def widths_of(low, high):
    return [2 ** k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)]


STAR_GROUPS = [dict(dataset="star_11", widths=widths_of(128, 4096), runs=1000, seeds=[0]),
               dict(dataset="star_11", widths=[8192], runs=500, seeds=[0, 1])]
DEEP_GROUPS = [dict(dataset="standard", widths=widths_of(16, 256), runs=1000, seeds=[0])]
STAR_STAGES = list(range(100_000, 1_000_001, 100_000))
DEEP_STAGES = list(range(10_000, 100_001, 10_000))
PRESETS = {
    "paper_star": dict(groups=STAR_GROUPS, layers=1, stages=STAR_STAGES, step="published"),
    "paper_star_gram": dict(groups=STAR_GROUPS, layers=1, stages=STAR_STAGES, step="gram"),
    "paper_deep": dict(groups=DEEP_GROUPS, layers=3, stages=DEEP_STAGES, step="published"),
    "paper_deep_gram": dict(groups=DEEP_GROUPS, layers=3, stages=DEEP_STAGES, step="gram"),
    "quick": dict(groups=[dict(dataset="star_11", widths=widths_of(16, 1024)[::2], runs=200, seeds=[0]),
                          dict(dataset="cross", widths=widths_of(16, 1024)[::2], runs=200, seeds=[0])],
                  layers=1, stages=[5_000, 10_000], step="gram"),
}
OLD_PRESETS = {"paper_star_ntk": "paper_star_gram", "paper_deep_ntk": "paper_deep_gram"}


def preset_configs(preset, step=None, data=None, **common):
    """Every configuration of a preset (step None: the preset's rule): a list of StarConfig. With
    ``data`` (a DataFile) the preset's grid on that data instead of its data sets, each
    configuration once (quick's two data sets share one grid)."""
    spec = PRESETS[check_choice("preset", preset, tuple(PRESETS))]
    step = spec["step"] if step is None else step
    configs = [StarConfig(dataset=None if data else group["dataset"], width=width, layers=spec["layers"],
                          runs=group["runs"], step=step, seed=seed, data=data, **common)
               for group in spec["groups"] for width in group["widths"] for seed in group["seeds"]]
    return [config for k, config in enumerate(configs) if config not in configs[:k]]


def preset_stages(preset, max_epochs=None):
    """The epoch counts of a preset's stages, capped at ``max_epochs`` (None: uncapped)."""
    stages = PRESETS[check_choice("preset", preset, tuple(PRESETS))]["stages"]
    if max_epochs is None:
        return list(stages)
    return sorted({min(stage, check_int("max_epochs", max_epochs)) for stage in stages})
