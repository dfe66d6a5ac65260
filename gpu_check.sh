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
    echo "wheels for Python $WHEEL_PYTHON in $WHEELS/: $(cd "$WHEELS" && ls ./*.whl | tr '\n' ' ')"
    exit 0
fi

# ----------------------------------------------------------------------------- CUDA, or refuse
export PYTHONPATH="$PWD/$WHEELS/site${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c "import torch" 2>/dev/null || die "gpu_check.sh needs a CUDA build of torch and a GPU; $PYTHON cannot import torch"
if [[ $SMOKE == no ]]; then
    reason=$("$PYTHON" -c "import torch, utils; print('' if torch.cuda.is_available() else utils.cuda_absence())") ||
        die "gpu_check.sh: $PYTHON cannot import torch and utils.py"
    [[ -z $reason ]] || die "gpu_check.sh needs a CUDA build of torch and a GPU; $PYTHON: $reason (--smoke tries the steps on the CPU)"
fi

# ----------------------------------------------------------------------------- missing packages from wheels/
missing=$("$PYTHON" -c "
import importlib.util
print(' '.join(m for m in ('fire', 'termcolor') if importlib.util.find_spec(m) is None))")
if [[ -n $missing ]]; then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 ||
        die "$missing missing in $PYTHON and $WHEELS/ holds no wheels; fill it beforehand where there is network: bash gpu_check.sh --download-wheels"
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
    SWEEP_BENCH=(--n_networks 4 --width 32 --dims 1 --steps 8)
    STAR_STAGE=(64 20 100 300)                     # width, networks, first epochs, stage epochs
    STAR_GRID=("16 20" "32 20")                    # other (width, networks) of the grid
    STAR_PROBE=(50 150)                            # their epochs: first call, second call
    SWEEP_CELL=(--n_networks 4 --width 32 --epoch_budget 64 --valid_budget 64 --n_valid 64 --n_test 64)
else
    DEVICE=cuda
    STAR_BENCH=()
    SWEEP_BENCH=()
    STAR_STAGE=(4096 1000 1000 10000)
    STAR_GRID=("128 1000" "256 1000" "512 1000" "1024 1000" "2048 1000" "8192 500")
    STAR_PROBE=(200 1200)
    SWEEP_CELL=(--n_networks 100 --width 512 --epoch_budget 8192 --valid_budget 64)
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
    printf '%-28s %s (%s s)\n' "$name" "$([[ $rc == 0 ]] && echo ok || echo "FAILED, exit $rc: see $OUT/logs/$name.log")" "$seconds"
}

star_train() {  # star_train WIDTH NETWORKS EPOCHS: train (or resume) star_11 under $OUT/runs
    "$PYTHON" train_star_dataset.py train --dataset star_11 --width "$1" --n_networks "$2" --epochs "$3" \
        --device "$DEVICE" --results "$OUT/runs"
}

echo "gpu_check: $("$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"), device $DEVICE, output $OUT"
PYTEST=("$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py)
run_step tests_cuda "${PYTEST[@]}" -m cuda --junitxml "$OUT/tests_cuda.xml"
run_step tests_other "${PYTEST[@]}" -m "not cuda" --junitxml "$OUT/tests_other.xml"
run_step benchmark_star "$PYTHON" train_star_dataset.py benchmark --device "$DEVICE" --results "$OUT" "${STAR_BENCH[@]}"
run_step benchmark_sweep "$PYTHON" run_nn_setups.py benchmark --device "$DEVICE" --out "$OUT/nn_setups_benchmark.json" \
    "${SWEEP_BENCH[@]}"
run_step "star_n${STAR_STAGE[0]}_to${STAR_STAGE[2]}" star_train "${STAR_STAGE[@]:0:3}"
run_step "star_n${STAR_STAGE[0]}_to${STAR_STAGE[3]}" star_train "${STAR_STAGE[@]:0:2}" "${STAR_STAGE[3]}"
for case in "${STAR_GRID[@]}"; do
    read -r width networks <<<"$case"
    for epochs in "${STAR_PROBE[@]}"; do
        run_step "star_n${width}_to${epochs}" star_train "$width" "$networks" "$epochs"
    done
done
for d in 64 1; do
    chunks=$("$PYTHON" -c "import run_nn_setups as rn; g = rn.GRIDS['paper']; print(rn.n_chunks_for(g['n_networks'], 256 * $d, g['max_chunk_points']))")
    run_step "sweep_cell_d$d" "$PYTHON" run_nn_setups.py fit --dataset "radial_$d" --n_chunks "$chunks" "${SWEEP_CELL[@]}" \
        --device "$DEVICE" --out "$OUT/sweep_cell_d$d.json"
done

# ----------------------------------------------------------------------------- summary
"$PYTHON" - "$OUT" "$SMOKE" "${STAR_STAGE[*]}" "${STAR_GRID[*]}" "${STAR_PROBE[*]}" <<'EOF'
"""summary.json and summary.txt of a gpu_check.sh run: step outcomes, test counts, benchmark
figures, measured stage times and the projected paper grids."""
import datetime
import math
import platform
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import torch

import run_nn_setups as rn
import train_star_dataset as ts
import utils

out, smoke = Path(sys.argv[1]), sys.argv[2] == "yes"
stage_width, stage_networks, stage_first, stage_epochs = map(int, sys.argv[3].split())
grid_cases = [tuple(map(int, pair)) for pair in zip(*[iter(sys.argv[4].split())] * 2)]
probe_first, probe_second = map(int, sys.argv[5].split())
steps = {name: dict(seconds=float(seconds), exit=int(rc))
         for name, seconds, rc in (line.split("\t") for line in (out / "steps.tsv").read_text().splitlines())}


def test_counts(name):
    """passed/failed/skipped counts from a pytest JUnit file (None where pytest wrote none)."""
    path = out / f"{name}.xml"
    if not path.exists():
        return None
    suite = ElementTree.parse(path).getroot().find("testsuite")
    total, failed, skipped = (int(suite.get(k)) for k in ("tests", "failures", "skipped"))
    failed += int(suite.get("errors"))
    return dict(passed=total - failed - skipped, failed=failed, skipped=skipped)


def load(path):
    return utils.load_json(path) if path.exists() else None


def per_epoch_seconds(width, first, second):
    """Seconds per epoch from two calls, to ``first`` and then on to ``second`` epochs: the
    difference of their wall times over second - 2 first epochs (the start-up cancels)."""
    a, b = (steps.get(f"star_n{width}_to{e}") for e in (first, second))
    ok = a and b and a["exit"] == 0 and b["exit"] == 0 and second > 2 * first
    return (b["seconds"] - a["seconds"]) / (second - 2 * first) if ok else None


def paper_star_projection(epoch_seconds):
    """Hours of the paper_star grid (every configuration to its last stage) from the seconds per
    epoch of each (width, networks); None if one is missing."""
    spec = ts.PRESETS["paper_star"]
    runs = [(width, group["n_networks"]) for group in spec["groups"] for width in group["widths"]
            for _ in group["seeds"]]
    if any(epoch_seconds.get(run) is None for run in runs):
        return None
    return sum(epoch_seconds[run] for run in runs) * max(spec["stages"]) / 3600


def paper_sweep_tasks():
    """Fits in the sweep paper grid: configurations x (coarse + fine steps)."""
    grid = rn.GRIDS["paper"]
    lists = [v for k, v in grid.items() if k in ("params", "optimisers", "optimizers", "datasets", "biases")]
    return math.prod(map(len, lists)) * (len(grid["coarse"]) + len(grid["fine"]))


epoch_seconds = {(stage_width, stage_networks): per_epoch_seconds(stage_width, stage_first, stage_epochs)}
epoch_seconds.update({case: per_epoch_seconds(case[0], probe_first, probe_second) for case in grid_cases})
cells = {d: load(out / f"sweep_cell_d{d}.json") for d in (64, 1)}
cell_seconds = {d: cell["wall_time_s"] for d, cell in cells.items() if cell is not None}
tasks = paper_sweep_tasks()
device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not smoke else platform.processor() or "cpu"
summary = dict(
    date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), smoke=smoke,
    device=device, torch=torch.__version__, cuda=torch.version.cuda, python=platform.python_version(),
    passed=all(s["exit"] == 0 for s in steps.values()), steps=steps,
    tests={name: test_counts(name) for name in ("tests_cuda", "tests_other")},
    benchmark_star=load(out / "star" / f"benchmark_{'cpu' if smoke else 'cuda'}.json"),
    benchmark_sweep=load(out / "nn_setups_benchmark.json"),
    star_stage=dict(dataset="star_11", width=stage_width, n_networks=stage_networks, epochs=stage_epochs,
                    wall_seconds=sum(steps.get(f"star_n{stage_width}_to{e}", {}).get("seconds", math.nan)
                                     for e in (stage_first, stage_epochs)),
                    seconds_per_epoch=epoch_seconds[(stage_width, stage_networks)]),
    star_seconds_per_epoch={f"n{w}_P{p}": s for (w, p), s in epoch_seconds.items()},
    paper_star_hours=paper_star_projection(epoch_seconds),
    sweep_cell_seconds={f"d{d}": s for d, s in cell_seconds.items()},
    paper_sweep_tasks=tasks,
    paper_sweep_hours={f"if_every_cell_took_d{d}": tasks * s / 3600 for d, s in cell_seconds.items()},
)
if smoke:
    summary["note"] = "--smoke: tiny sizes on the CPU; the times and projections say nothing about a GPU"
summary["passed"] = summary["passed"] and not (not smoke and (summary["tests"]["tests_cuda"] or {}).get("skipped"))
utils.save_json(out / "summary.json", summary)


def number(x, spec):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


star = summary["star_stage"]
lines = [f"gpu_check {summary['date']}: {'PASSED' if summary['passed'] else 'FAILED'}"
         f"{' (smoke: tiny sizes on the CPU)' if smoke else ''}",
         f"device {device}; torch {summary['torch']}, CUDA {summary['cuda']}, Python {summary['python']}",
         "tests: " + "; ".join(f"{name} {counts}" for name, counts in summary["tests"].items())]
lines += [f"  step {name}: exit {s['exit']}, {s['seconds']:.1f} s" for name, s in steps.items() if s["exit"]]
for row in (summary["benchmark_star"] or {}).get("rows", []):
    lines.append(f"star benchmark n={row['width']} P={row['n_networks']}: {row['epochs_per_s']:.1f} epochs/s "
                 f"(autograd {row['autograd_epochs_per_s']:.1f})")
for row in (summary["benchmark_sweep"] or {}).get("rows", []):
    lines.append(f"sweep benchmark d={row['d']}: {row['ms_per_step_batched']:.2f} ms/step batched, "
                 f"{row['ms_per_step_single']:.2f} ms/step single")
lines.append(f"star_11 stage n={star['width']} P={star['n_networks']}, {star['epochs']} epochs: "
             f"{number(star['wall_seconds'], '.1f')} s wall in two calls (start-up included), "
             f"{number(1e3 * star['seconds_per_epoch'] if star['seconds_per_epoch'] else None, '.3f')} ms/epoch")
lines.append("star ms/epoch by (n, P): " + ", ".join(
    f"{key} {number(1e3 * s if s else None, '.3f')}" for key, s in summary["star_seconds_per_epoch"].items()))
lines.append(f"paper_star grid projected: {number(summary['paper_star_hours'], '.2f')} h "
             "(sum over its runs of ms/epoch x 1,000,000 epochs)")
lines.append("sweep cells: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary["sweep_cell_seconds"].items()))
lines.append(f"paper sweep grid ({tasks} fits) projected: " + ", ".join(
    f"{v:.1f} h {k.replace('_', ' ')}" for k, v in summary["paper_sweep_hours"].items()))
text = "\n".join(lines) + "\n"
utils.save_text(out / "summary.txt", text)
print(text + f"written: {out}/summary.json, {out}/summary.txt, logs in {out}/logs/")
sys.exit(0 if summary["passed"] else 1)
EOF
