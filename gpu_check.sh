#!/usr/bin/env bash
# gpu_check.sh: checks the CUDA paths of the PyTorch scripts end to end on a GPU machine and times them.
#
#   bash gpu_check.sh                    on the GPU machine (its own python3 with a CUDA torch; no network needed)
#   bash gpu_check.sh --download-wheels  beforehand, on a machine with network: fills wheels/ (git-ignored)
#   bash gpu_check.sh --smoke            the same steps on the CPU at tiny sizes (tries the script itself)
#   options: --out DIR (default results/gpu_check), --help
#
# Steps: refuse (one line, exit 2) where torch has no CUDA; install missing pure-Python packages
# (fire, termcolor) from wheels/ into wheels/site with pip --no-index (torch and the machine's
# packages are left alone); run tests/test_cuda.py (the CUDA cases, then the rest); run both
# benchmark commands on CUDA; time one paper_star stage (star_11, n = 4096, P = 1000, 10,000
# epochs) and short runs of the grid's other widths; time one paper-grid sweep cell at d = 64
# (and at d = 1); write summary.json and summary.txt, step logs under logs/. Exit 0 when every
# step passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
WHEELS=wheels
WHEEL_PACKAGES=(fire==0.7.1 termcolor==3.3.0)   # pure Python, missing on the GPU image; fire needs termcolor
WHEEL_PYTHON=${WHEEL_PYTHON:-3.12}              # the GPU machine's Python
OUT=results/gpu_check
SMOKE=no
DOWNLOAD=no

die() {
    echo "error: $*" >&2
    exit 2
}

while (($#)); do
    case $1 in
        --out) (($# > 1)) || die "--out needs a folder"; OUT=$2; shift ;;
        --out=*) OUT=${1#--out=} ;;
        --smoke) SMOKE=yes ;;
        --download-wheels) DOWNLOAD=yes ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "gpu_check.sh: unknown option $1; allowed: --out DIR, --smoke, --download-wheels, --help" ;;
    esac
    shift
done

# ----------------------------------------------------------------------------- wheels, beforehand
if [[ $DOWNLOAD == yes ]]; then
    "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version "$WHEEL_PYTHON" \
        --dest "$WHEELS" "${WHEEL_PACKAGES[@]}" || die "pip download failed (is there network?)"
    echo "wheels for Python $WHEEL_PYTHON in $WHEELS/: $(cd "$WHEELS" && echo *.whl)"
    exit 0
fi

# ----------------------------------------------------------------------------- CUDA, or refuse
export PYTHONPATH="$PWD/$WHEELS/site${PYTHONPATH:+:$PYTHONPATH}"
NEED="gpu_check.sh needs a CUDA build of torch and a GPU"
"$PYTHON" -c "import torch" 2>/dev/null || die "$NEED; $PYTHON cannot import torch"
if [[ $SMOKE == no ]]; then
    reason=$("$PYTHON" -c "import torch; from kinks.nets import cuda_absence; print('' if torch.cuda.is_available() else cuda_absence())") ||
        die "gpu_check.sh: $PYTHON cannot import torch and the kinks package"
    [[ -z $reason ]] || die "$NEED; $PYTHON: $reason (--smoke tries the steps on the CPU)"
fi

# ----------------------------------------------------------------------------- missing packages from wheels/
missing=$("$PYTHON" -c "
import importlib.util
print(' '.join(m for m in ('fire', 'termcolor') if importlib.util.find_spec(m) is None))")
if [[ -n $missing ]]; then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 ||
        die "$missing missing in $PYTHON and $WHEELS/ holds no wheels;" \
            "fill it beforehand where there is network: bash gpu_check.sh --download-wheels"
    # shellcheck disable=SC2086  # one package name per word
    "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS" --target "$WHEELS/site" $missing ||
        die "installing $missing from $WHEELS/ failed (pip install --no-index --find-links $WHEELS)"
fi
"$PYTHON" -c "import fire, joblib, matplotlib, numpy, pytest, scipy, tqdm" 2>/dev/null ||
    die "$PYTHON lacks one of fire, joblib, matplotlib, numpy, pytest, scipy, tqdm"

# ----------------------------------------------------------------------------- sizes
if [[ $SMOKE == yes ]]; then
    DEVICE=cpu
    STAR_BENCH=(--seconds 0.3)
    SWEEP_BENCH=(--runs 4 --width 32 --dims 1 --steps 8)
    STAR_STAGE=64:20:100:300                       # width:networks:warm-up epochs:epochs in all
    STAR_GRID=(16:20:50:150 32:20:50:150)          # the grid's other runs, likewise
    SWEEP_CELL=(--runs 4 --width 32 --epoch_budget 64 --valid_budget 64 --n_valid 64 --n_test 64)
else
    DEVICE=cuda
    STAR_BENCH=()
    SWEEP_BENCH=()
    STAR_STAGE=4096:1000:1000:10000
    STAR_GRID=(128:1000:200:1200 256:1000:200:1200 512:1000:200:1200 1024:1000:200:1200 2048:1000:200:1200
               8192:500:200:1200)
    SWEEP_CELL=(--runs 100 --width 512 --epoch_budget 8192 --valid_budget 64)
fi
mkdir -p "$OUT/logs" || die "cannot create $OUT"
rm -rf "$OUT/runs" "$OUT/steps.tsv"

run_step() {  # run_step NAME COMMAND...: output to logs/NAME.log; NAME, seconds and exit status to steps.tsv
    local name=$1 start rc
    shift
    start=$(date +%s.%N)
    "$@" >"$OUT/logs/$name.log" 2>&1
    rc=$?
    local seconds
    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    printf '%s\t%s\t%s\n' "$name" "$seconds" "$rc" >>"$OUT/steps.tsv"
    local outcome="ok"
    [[ $rc == 0 ]] || outcome="FAILED, exit $rc: see $OUT/logs/$name.log"
    printf '%-28s %s (%s s)\n' "$name" "$outcome" "$seconds"
}

star_times() {  # star_times OUT.json WIDTH:NETWORKS:FIRST:TOTAL...: time star_11 runs under runs/
    "$PYTHON" - "$OUT/runs" "$DEVICE" "$@" <<'EOF'
"""Each case W:P:F:T trains star_11 (n = W, P networks, otherwise the train command's defaults)
by kinks.star.training.train to F epochs and then on to T epochs in the same process. Recorded: the
wall time of both calls and the seconds per epoch of the second, (its wall time) / (T - F), with
CUDA and the kernels warm (it includes loading the checkpoint and writing the final one)."""
import sys
import time

from kinks.files import save_json
from kinks.nets import synchronize, torch_device
from kinks.star.config import StarConfig
from kinks.star.training import train

folder, device, out, cases = sys.argv[1], torch_device(sys.argv[2]), sys.argv[3], sys.argv[4:]


def timed_training(config, epochs):
    start = time.perf_counter()
    train(config, epochs, device, results=folder, progress=False)
    synchronize(device)
    return time.perf_counter() - start


rows = []
for case in cases:
    width, networks, first, total = map(int, case.split(":"))
    config = StarConfig(dataset="star_11", width=width, runs=networks)
    warm, timed = timed_training(config, first), timed_training(config, total)
    rows.append(dict(width=width, n_networks=networks, epochs=total, wall_seconds=warm + timed,
                     seconds_per_epoch=timed / (total - first)))
    print(f"star_11 n={width} P={networks}: {total} epochs in {warm + timed:.1f} s, "
          f"{1e3 * rows[-1]['seconds_per_epoch']:.3f} ms/epoch", flush=True)
save_json(out, dict(device=str(device), rows=rows))
EOF
}
versions=$("$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)")
echo "gpu_check: $versions, device $DEVICE, output $OUT"
PYTEST=("$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py)
run_step tests_cuda "${PYTEST[@]}" -m cuda --junitxml "$OUT/tests_cuda.xml"
run_step tests_other "${PYTEST[@]}" -m "not cuda" --junitxml "$OUT/tests_other.xml"
run_step benchmark_star "$PYTHON" train_star_dataset.py benchmark --device "$DEVICE" --results "$OUT" \
    "${STAR_BENCH[@]}"
run_step benchmark_sweep "$PYTHON" run_nn_setups.py benchmark --device "$DEVICE" \
    --out "$OUT/nn_setups_benchmark.json" "${SWEEP_BENCH[@]}"
run_step star_stage star_times "$OUT/star_stage.json" "$STAR_STAGE"
run_step star_grid star_times "$OUT/star_grid.json" "${STAR_GRID[@]}"
for d in 64 1; do
    chunks=$("$PYTHON" -c "from kinks.sweeps import grid; g = grid.GRIDS['paper']
print(grid.n_chunks_for(g['runs'], 256 * $d, g['max_chunk_points']))")      # the paper grid's chunks at d
    run_step "sweep_cell_d$d" "$PYTHON" run_nn_setups.py fit --dataset "radial_$d" --n_chunks "$chunks" \
        "${SWEEP_CELL[@]}" --device "$DEVICE" --out "$OUT/sweep_cell_d$d.json"
done

# ----------------------------------------------------------------------------- summary
"$PYTHON" - "$OUT" "$SMOKE" <<'EOF'
"""summary.json and summary.txt of a gpu_check.sh run: step outcomes, test counts, benchmark
figures, measured stage times and the projected paper grids."""
import datetime
import math
import platform
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import torch

from kinks.files import load_json, save_json, save_text
from kinks.star.config import PRESETS as STAR_PRESETS
from kinks.sweeps.grid import GRIDS

out, smoke = Path(sys.argv[1]), sys.argv[2] == "yes"
steps = {name: dict(seconds=float(seconds), exit=int(rc))
         for name, seconds, rc in (line.split("\t") for line in (out / "steps.tsv").read_text().splitlines())}


def load(name):
    """A JSON file under the output folder, or None where the step wrote none."""
    return load_json(out / name) if (out / name).exists() else None


def test_counts(name):
    """passed/failed/skipped counts from a pytest JUnit file (None where pytest wrote none)."""
    if not (out / f"{name}.xml").exists():
        return None
    suite = ElementTree.parse(out / f"{name}.xml").getroot().find("testsuite")
    total, failed, errors, skipped = (int(suite.get(k)) for k in ("tests", "failures", "errors", "skipped"))
    return dict(passed=total - failed - errors - skipped, failed=failed + errors, skipped=skipped)


def paper_star_hours(seconds_per_epoch):
    """The paper_star grid, every run to its last stage: sum over runs of seconds/epoch x epochs,
    in hours; None where a run's (width, networks) was not timed."""
    spec = STAR_PRESETS["paper_star"]
    runs = [(width, group["runs"]) for group in spec["groups"] for width in group["widths"]
            for _ in group["seeds"]]
    if any(run not in seconds_per_epoch for run in runs):
        return None
    return sum(seconds_per_epoch[run] for run in runs) * max(spec["stages"]) / 3600


def paper_sweep_fits():
    """Fits in the sweep paper grid: configurations x (coarse + fine steps)."""
    grid = GRIDS["paper"]
    lists = [v for k, v in grid.items() if k in ("params", "optimizers", "datasets", "biases")]
    return math.prod(map(len, lists)) * (len(grid["coarse"]) + len(grid["fine"]))


star_rows = [row for name in ("star_stage.json", "star_grid.json") for row in (load(name) or {}).get("rows", [])]
seconds_per_epoch = {(row["width"], row["n_networks"]): row["seconds_per_epoch"] for row in star_rows}
cell_seconds = {f"d{d}": cell["wall_time_s"] for d in (64, 1) if (cell := load(f"sweep_cell_d{d}.json"))}
fits = paper_sweep_fits()
tests = {name: test_counts(name) for name in ("tests_cuda", "tests_other")}
cuda_skipped = not smoke and (tests["tests_cuda"] is None or tests["tests_cuda"]["skipped"] > 0)
summary = dict(
    date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), smoke=smoke,
    device="cpu (--smoke)" if smoke else torch.cuda.get_device_name(0), torch=torch.__version__,
    cuda=torch.version.cuda, python=platform.python_version(),
    passed=all(s["exit"] == 0 for s in steps.values()) and not cuda_skipped, steps=steps, tests=tests,
    benchmark_star=load(f"star/benchmark_{'cpu' if smoke else 'cuda'}.json"),
    benchmark_sweep=load("nn_setups_benchmark.json"),
    star_stage=(load("star_stage.json") or {}).get("rows", [None])[0], star_runs=star_rows,
    paper_star_hours=paper_star_hours(seconds_per_epoch),
    sweep_cell_seconds=cell_seconds, paper_sweep_fits=fits,
    paper_sweep_hours_if_every_fit_took_as_long_as={d: fits * s / 3600 for d, s in cell_seconds.items()},
    note="--smoke: tiny sizes on the CPU; its times say nothing about a GPU" if smoke else
    "projections: measured seconds per epoch (star) or per fit (sweep) times the grid's epochs or fits")
save_json(out / "summary.json", summary)


def number(x, spec):
    return "n/a" if x is None else format(x, spec)


lines = [f"gpu_check {summary['date']}: {'PASSED' if summary['passed'] else 'FAILED'}"
         f"{' (smoke: tiny sizes on the CPU)' if smoke else ''}",
         f"device {summary['device']}; torch {summary['torch']}, CUDA {summary['cuda']}, Python {summary['python']}",
         "tests: " + "; ".join(f"{name} {counts}" for name, counts in tests.items())]
lines += [f"  FAILED step {name}: exit {s['exit']} (logs/{name}.log)" for name, s in steps.items() if s["exit"]]
for row in (summary["benchmark_star"] or {}).get("rows", []):
    lines.append(f"star benchmark n={row['width']} P={row['runs']}: {row['epochs_per_s']:.1f} epochs/s "
                 f"(autograd {row['autograd_epochs_per_s']:.1f})")
for row in (summary["benchmark_sweep"] or {}).get("rows", []):
    lines.append(f"sweep benchmark d={row['d']}: {row['ms_per_step_batched']:.2f} ms/step for "
                 f"{summary['benchmark_sweep']['runs']} networks, {row['ms_per_step_single']:.2f} for one")
for row in star_rows:
    lines.append(f"star_11 n={row['width']} P={row['n_networks']}: {1e3 * row['seconds_per_epoch']:.3f} ms/epoch "
                 f"({row['epochs']} epochs in {row['wall_seconds']:.1f} s)")
lines.append(f"paper_star grid projected: {number(summary['paper_star_hours'], '.2f')} h "
             "(sum over its runs of ms/epoch x 1,000,000 epochs)")
lines.append("sweep cells (wall time of one fit): " + ", ".join(f"{k} {v:.1f} s" for k, v in cell_seconds.items()))
lines.append(f"paper sweep grid ({fits} fits) projected: " + ", ".join(
    f"{v:.1f} h if every fit took as long as the {d} cell"
    for d, v in summary["paper_sweep_hours_if_every_fit_took_as_long_as"].items()))
text = "\n".join(lines) + "\n"
save_text(out / "summary.txt", text)
print(text + f"written: {out}/summary.json, {out}/summary.txt, logs in {out}/logs/")
sys.exit(0 if summary["passed"] else 1)
EOF
