"""The figures of the 1-D study, all on the shared palette and figure stack of ``kinks.figures``:
the crossing probability against n, the probability of the theorem's event and the theory against
experiment figure (``ErrorBarPlot``s, written as PNG and pgfplots by ``write_plot``)."""
import numpy as np

from kinks.figures import ErrorBarPlot, Guide, Series
from kinks.mc.theory import EVENT_CONDITIONS
from kinks.samples import SampleRule

# ============================================================================ crossing probability
GUIDE_FACTOR = 2.0  # the paper's guide line 2 n^(-1/2)
DODGE = 1.05  # neighbouring series at one width are drawn at n / DODGE, n, n DODGE, ... (log axis)
FIGURE_NAME = "crossing_probability"


def plotted_points(group):
    """(widths, p_hat, lower, upper) arrays of the rows with p_hat > 0 (a log axis cannot show 0)."""
    shown = [row for row in group if row["p_hat"] > 0]
    return tuple(np.array([row[key] for row in shown]) for key in ("width", "p_hat", "ci_low", "ci_high"))


def count_text(values, unit):
    """'500 runs' for one value, '20-500 runs' for several (en dash)."""
    low, high = min(values), max(values)
    return f"{low:,} {unit}" if low == high else f"{low:,}–{high:,} {unit}"


def figure_note(runs, rows, shared=()):
    """The lines stating what the figure shows: the estimate and its interval, the networks per
    point and the epoch budget (epochs per check x checks) of the runs shown, and the settings
    ``shared`` by every run compared (``crossing.shared_parts``) and their one offset, which their
    legend entries omit, or the one run's name and label."""
    budgets = [run["config"]["epochs_per_check"] * run["config"]["max_checks"] for run in runs]
    lines = [r"$\hat p$ with 95 % Clopper–Pearson intervals, " + count_text([row["runs"] for row in rows], "runs")
             + " per point",
             "at most " + count_text(budgets, "epochs") + " per network; series offset horizontally"]
    if len(runs) == 1 and "name" in runs[0]:
        return lines + [f"run {runs[0]['name']}: {runs[0]['label']}"]
    offsets = {row["offset"] for row in rows}
    shared = [*shared, *([f"$\\Delta$ = {offsets.pop():g}"] if len(runs) > 1 and len(offsets) == 1 else [])]
    return lines + ([f"every run: {', '.join(shared)}"] if shared else [])


def y_range(rows):
    """(y_min, y_max) of the log y axis: every interval shown and the guide line, with a margin."""
    widths = np.array(sorted({row["width"] for row in rows}), float)
    guide = GUIDE_FACTOR / np.sqrt(widths)
    shown = [row for row in rows if row["p_hat"] > 0]
    low = min([row["ci_low"] for row in shown] + [guide.min()])
    high = max([row["ci_high"] for row in shown] + [guide.max()])
    return low / 1.25, high * 1.25


def crossing_plot(groups, labels, notes):
    """The crossing-probability figure: per (run, offset) the estimates p_hat > 0 with their 95 %
    intervals against n (log-log, series dodged by DODGE), and the paper's guide line 2 / sqrt(n).
    groups: {(run, offset): rows sorted by width} (``crossing.series``); labels: the legend text
    per key (``crossing.series_labels``); notes: the title lines (``figure_note``)."""
    rows = [row for group in groups.values() for row in group]
    series = [Series(labels[key], *plotted_points(group)) for key, group in groups.items()]
    guide = Guide(r"$2/\sqrt{n}$", lambda n: GUIDE_FACTOR / np.sqrt(n), f"{GUIDE_FACTOR:g}/sqrt(x)")
    return ErrorBarPlot(series, "width $n$", r"estimated crossing probability $\hat p$", notes, log_y=True,
                        x_ticks=sorted({row["width"] for row in rows}), y_range=y_range(rows), guides=[guide],
                        dodge=DODGE)


# ============================================================================ the theorem's event
def samples_axis_text(samples=None):
    """'$N = n^2$ samples' (the text the paper's figures had), or the label of another SampleRule."""
    samples = samples or SampleRule()
    return "$N = n^2$ samples" if samples.text == SampleRule.DEFAULT else f"{samples.label()} samples"


EVENT_DODGE = 1.04  # the conditions' points at one width side by side: lines that coincide stay visible


def event_plot(rows, notes, samples=None):
    """The probability of the theorem's event against n (log x): the joint fraction (series 0) and
    the fraction of each condition W2 ... D2, each with its 95 % Clopper-Pearson interval, in its own
    colour and marker, dodged so that series with equal fractions stay visible (with the paper's
    settings W5 and W6 near 1, W2, W3 and the joint near 0). rows: ``theory.event_rows``; notes: the
    title lines; samples: the SampleRule of the draws (default n^2), named on the x axis."""
    n = np.array([row["n"] for row in rows])
    series = [Series(name if name != "joint" else "joint: all conditions", n,
                     *(np.array([row[f"{name}{suffix}"] for row in rows]) for suffix in ("_frac", "_low", "_high")))
              for name in ("joint",) + EVENT_CONDITIONS]
    return ErrorBarPlot(series, f"width $n$ ({samples_axis_text(samples)})", "fraction of runs", notes,
                        y_range=(-0.03, 1.03), dodge=EVENT_DODGE)


# ============================================================================ theory against experiment
THEORY_NAME = "theory_vs_experiment"


def theory_note(rows, event_runs, epsilon, gamma):
    """The title lines of the theory-against-experiment figure of ``rows`` (``crossing.theory_rows``):
    the event's epsilon, gamma and draws per n, the Monte Carlo runs per point, the setting and the
    interval level."""
    return [rf"$\varepsilon$ = {epsilon:g}, $\gamma$ = {gamma:g}; event: {event_runs:,} draws per $n$, "
            "Monte Carlo: " + count_text([row["runs"] for row in rows], "runs") + " per point",
            "gd, theory step, $\\Delta$ = 0, the paper's data; 95 % Clopper–Pearson intervals"]


def theory_plot(rows, notes, names):
    """The theorem against the Monte Carlo runs in its setting: per run its stuck fraction 1 - p_hat
    (solid, named by ``names[run]`` when several runs are shown), and after the runs of each N rule
    the event probability of that rule with r = 1 (solid, the next style) and r = 10 (dashed, the
    same style), once (every run of a rule draws the same event, seed 0), each with its 95 %
    Clopper-Pearson interval, against n (log x, dodged). The event is a lower bound of the
    probability of staying put, so its curves lie below the stuck fraction where the theorem holds.
    rows: ``crossing.theory_rows``; notes: the title lines; names: ``crossing.theory_names``."""
    rules = list(dict.fromkeys(row["samples"] for row in rows))
    several = len({row["run"] for row in rows}) > 1
    series = []
    for rule in rules:
        own = [row for row in rows if row["samples"] == rule]
        for run in dict.fromkeys(row["run"] for row in own):
            mine = [row for row in own if row["run"] == run]
            series.append(Series((f"{names[run]}: " if several else "") + "stuck, $1-\\hat p$ (Monte Carlo)",
                                 [row["width"] for row in mine],
                                 *([row[key] for row in mine] for key in ("stuck", "stuck_low", "stuck_high"))))
        events = sorted({row["width"]: row for row in own}.values(), key=lambda row: row["width"])
        prefix = f"{SampleRule(rule).label()}: " if len(rules) > 1 else ""
        for r, dashed in ((1, False), (10, True)):
            series.append(Series(f"{prefix}theorem's event, $r$ = {r}", [row["width"] for row in events],
                                 *([row[f"event_r{r}{suffix}"] for row in events] for suffix in ("", "_low", "_high")),
                                 dashed=dashed))
    axis = samples_axis_text(SampleRule(rules[0])) if len(rules) == 1 else "$N$ as in the legend"
    return ErrorBarPlot(series, f"width $n$ ({axis})", "fraction of runs", notes, y_range=(-0.03, 1.03),
                        dodge=EVENT_DODGE)
