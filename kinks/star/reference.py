"""The star study's shipped references (``eval_star_dataset.py reference``, ``report --against``,
``document``): per preset, width n and stage E (an epoch count of the preset's stages) the counts
of the pooled networks that crossed before E, as the report pools and counts them
(``kinks.star.report.cell_row``: kink crossed and loss crossed, each with its 95 % Clopper-Pearson
interval), the seeds, the settings as JSON, the engines and the command that reproduces the row,
written as reference/<preset>.csv; and the z-scores of other runs against them.

A configuration belongs to a preset when its series settings (all settings but the width, P and
the seed, ``report.SERIES_SETTINGS``) are those of the preset's configurations under the options
of ``train_star_dataset.py experiments`` (step, lr_factor, activation, random_bias, dtype); other
widths, P and seeds are taken as they are, and their rows name the ``train`` commands instead of
the preset's. A row is written only where every configuration of its cell has reached its stage.

Against a reference row of the same settings, width and epoch count, each fraction of a report row
is compared by the two-proportion z-score (``kinks.stats.two_proportion_z``)

    z = (k1/N1 - k2/N2) / sqrt(pbar (1 - pbar) (1/N1 + 1/N2)),  pbar = (k1 + k2) / (N1 + N2),

about N(0, 1) where both estimate the same fraction. Rows whose settings differ in anything are
never compared."""
import csv
import json
from pathlib import Path

from kinks.checks import require
from kinks.files import save_csv
from kinks.paths import data_path
from kinks.star import report as sr
from kinks.star.config import DEFAULT_LR_FACTOR, PRESETS, preset_configs, preset_stages
from kinks.stats import two_proportion_z

REFERENCE_DIR = data_path("reference")  # the shipped references, reference/ of the repository
COUNTS = [f"{m}_{k}" for m, _ in sr.MEASURES for k in ("crossed", "fraction", "low", "high")]
REFERENCE_COLUMNS = ["preset", "width", "epochs", "runs", "seeds", "networks", *COUNTS, "seed", "settings", "engine",
                     "command"]
AGAINST_COLUMNS = ["series", "width", "epochs", "networks", "reference", "ref_networks", "same_seed",
                   *(f"{m}_{k}" for m, _ in sr.MEASURES for k in ("fraction", "ref_fraction", "z"))]
OPTION_DEFAULTS = dict(activation="relu", random_bias=False, dtype="float32")  # experiments' defaults


# ============================================================================ settings and commands
def settings_text(settings):
    """The series settings of a StarConfig or a table row as compact JSON with sorted keys: rows with
    equal text estimate the same fractions (at the same width and epoch count)."""
    return json.dumps(dict(sr.series_key(settings)), sort_keys=True, separators=(",", ":"))


def option_words(config, preset_step):
    """The experiments options that give ``config``'s settings beyond its preset's: --step where it
    is not the preset's rule, --lr_factor where it is not the rule's default, and so on."""
    words = [] if config.step == preset_step else ["--step", config.step]
    words += [] if config.lr_factor == DEFAULT_LR_FACTOR[config.step] else ["--lr_factor", f"{config.lr_factor:g}"]
    for option, default in OPTION_DEFAULTS.items():
        value = getattr(config, option)
        words += [] if value == default else [f"--{option}", str(value).lower()]
    return words


def engine_words(config, engines):
    """--engine torch where torch trained float64 networks (auto would take the compiled engine on a
    CPU); nothing else, auto picks the engine that trained them."""
    return ["--engine", "torch"] if engines == ["torch"] and config.dtype == "float64" else []


def preset_command(preset, config, engines, epochs):
    """The experiments command that trains the preset's configurations to ``epochs`` (--max_epochs
    where it is below the preset's last stage)."""
    words = ["python train_star_dataset.py experiments", "--preset", preset,
             *option_words(config, PRESETS[preset]["step"]), *engine_words(config, engines)]
    words += ["--max_epochs", str(epochs)] if epochs < PRESETS[preset]["stages"][-1] else []
    return " ".join(words)


def train_command(config, engines, epochs):
    """The train command of one configuration to ``epochs``, every setting named."""
    words = ["python train_star_dataset.py train", "--dataset", config.dataset, "--width", str(config.width),
             "--layers", str(config.layers), "--runs", str(config.runs), "--seed", str(config.seed),
             "--step", config.step, "--lr_factor", f"{config.lr_factor:g}", "--activation", config.activation,
             "--random_bias", str(config.random_bias).lower(), "--dtype", config.dtype,
             *engine_words(config, engines), "--epochs", str(epochs)]
    return " ".join(words)


# ============================================================================ the preset's cells
def preset_settings(preset, options):
    """{settings text: step rule} of the preset's configurations under the experiments ``options``."""
    return {settings_text(config): config.step for config in preset_configs(preset, **options)}


def preset_results(results, preset, options):
    """The results that belong to ``preset`` under ``options`` (see the module's docstring)."""
    wanted = preset_settings(preset, options)
    return [result for result in results if settings_text(result.config) in wanted]


def cell_name(config):
    return f"{config.dataset} n = {config.width} seed {config.seed}"


def missing_configs(preset, options, chosen):
    """The preset's configurations (under ``options``) that none of ``chosen`` is, by name."""
    found = [result.config for result in chosen]
    return [cell_name(config) for config in preset_configs(preset, **options) if config not in found]


def is_preset_cell(preset, options, group):
    """Whether a cell's configurations are exactly the preset's of its settings and width."""
    config = group[0].config
    expected = [c for c in preset_configs(preset, **options)
                if settings_text(c) == settings_text(config) and c.width == config.width]
    return sorted((c.runs, c.seed) for c in expected) == sorted((r.config.runs, r.config.seed) for r in group)


def reference_row(preset, options, key, width, group, epochs):
    """The reference row of one cell at ``epochs`` (``report.cell_row`` with the seeds, settings,
    engines and command)."""
    row = sr.cell_row(key, width, group, epochs)
    engines = sorted({result.engine for result in group})
    configs = sorted((result.config for result in group), key=lambda config: config.seed)
    command = preset_command(preset, configs[0], engines, epochs) if is_preset_cell(preset, options, group) else \
        " && ".join(train_command(config, engines, epochs) for config in configs)
    return dict({key: row[key] for key in ("width", "epochs", "runs", "seeds", "networks")},
                **{key: row[key] if key.endswith("crossed") else f"{row[key]:.6g}" for key in COUNTS},
                preset=preset, seed=" ".join(str(config.seed) for config in configs),
                settings=settings_text(configs[0]), engine=" ".join(engines), command=command)


def reference_rows(results, preset, options, max_epochs=None):
    """The reference rows of ``preset`` from ``results`` (StarResults), one per cell and stage that
    every configuration of the cell has reached, sorted by settings, width and stage; with the
    preset's configurations not found and the (cell, stage) pairs not reached, by name:
    (rows, missing, unreached)."""
    chosen = preset_results(results, preset, options)
    rows, unreached = [], []
    for (key, width), group in sr.cells(chosen).items():
        reached = min(result.epoch for result in group)
        for stage in preset_stages(preset, max_epochs):
            if stage <= reached:
                rows.append(reference_row(preset, options, key, width, group, stage))
            else:
                unreached.append(f"{dict(key)['dataset']} n = {width} at {stage:,} epochs")
    return rows, missing_configs(preset, options, chosen), unreached


# ============================================================================ the CSV files
def is_star_reference(path):
    """Whether the CSV ``path`` is a star reference (its header is REFERENCE_COLUMNS)."""
    with open(path, newline="") as file:
        return next(csv.reader(file), None) == REFERENCE_COLUMNS


def write_reference(path, rows):
    """reference CSV ``path`` (atomically); a file there of another kind (a 1-D reference of the same
    name) is refused."""
    require(not path.exists() or is_star_reference(path),
            f"--out: {path} exists and is not a star reference (a 1-D one?); choose another --out")
    save_csv(path, rows, REFERENCE_COLUMNS)


def read_reference(path):
    """The rows of one star reference CSV, counts as ints."""
    with open(path, newline="") as file:
        return [dict(row, width=int(row["width"]), epochs=int(row["epochs"]), networks=int(row["networks"]),
                     **{f"{m}_crossed": int(row[f"{m}_crossed"]) for m, _ in sr.MEASURES})
                for row in csv.DictReader(file)]


def load_references(source):
    """Every row of the star reference CSVs at ``source``: a folder (its other CSVs, the 1-D
    references, are left alone) or one CSV file."""
    source = Path(source)
    require(source.exists(), f"--against {source}: no such folder or file of reference CSVs")
    paths = sorted(source.glob("*.csv")) if source.is_dir() else [source]
    rows = [row for path in paths if is_star_reference(path) for row in read_reference(path)]
    require(rows, f"--against {source}: holds no star reference CSV (written by eval_star_dataset.py reference)")
    return rows


# ============================================================================ against the references
def against_rows(rows, results, references):
    """Per report row and reference row of the same settings, width and epoch count: both
    fractions of each measure and their two-proportion z; (compared rows, report rows without a
    reference)."""
    seeds = {}
    for result in results:
        seeds.setdefault((settings_text(result.config), result.config.width), set()).add(str(result.config.seed))
    shipped = {}
    for ref in references:
        shipped.setdefault((ref["settings"], ref["width"], ref["epochs"]), []).append(ref)
    compared, alone = [], []
    for row in rows:
        settings = settings_text(row)
        matches = shipped.get((settings, row["width"], row["epochs"]), [])
        alone += [] if matches else [row]
        for ref in matches:
            entry = dict(series=sr.series_label(sr.series_key(row)), width=row["width"], epochs=row["epochs"],
                         networks=row["networks"], reference=ref["preset"], ref_networks=ref["networks"],
                         same_seed=bool(seeds.get((settings, row["width"]), set()) & set(ref["seed"].split())))
            for measure, _ in sr.MEASURES:
                k, ref_k = row[f"{measure}_crossed"], ref[f"{measure}_crossed"]
                entry.update({f"{measure}_fraction": k / row["networks"],
                              f"{measure}_ref_fraction": ref_k / ref["networks"],
                              f"{measure}_z": two_proportion_z(k, row["networks"], ref_k, ref["networks"])})
            compared.append(entry)
    return compared, alone


def format_against(compared, alone):
    """The comparison as text, one line per pair; |z| > 3 marked; the rows without a reference in
    one line."""
    lines = ["your fractions beside the shipped reference (z: two-proportion z-score; |z| > 3 is marked)",
             f"{'series':34s} {'n':>5s} {'epochs':>9s} {'nets':>6s} {'reference':16s} {'ref nets':>8s}"
             f" {'kink':>6s} {'ref':>6s} {'z':>6s}  {'loss':>6s} {'ref':>6s} {'z':>6s}"]
    for row in compared:
        flag = "  <-- differs" if max(abs(row["kink_z"]), abs(row["loss_z"])) > 3 else ""
        lines.append(f"{row['series']:34s} {row['width']:5d} {row['epochs']:9,d} {row['networks']:6d} "
                     f"{row['reference']:16s} {row['ref_networks']:8d} "
                     + "  ".join(f"{row[f'{m}_fraction']:6.3f} {row[f'{m}_ref_fraction']:6.3f} {row[f'{m}_z']:6.2f}"
                                 for m, _ in sr.MEASURES) + flag)
    if any(row["same_seed"] for row in compared):
        lines.append("note: some runs use the reference's seed, so their networks are the reference's own; "
                     "use another --seed for an independent check")
    if alone:
        lines.append("no reference of the same settings, width and epoch count for: " + "; ".join(
            f"{sr.series_label(sr.series_key(row))} n = {row['width']} ({row['epochs']:,} epochs)" for row in alone))
    return "\n".join(lines)

