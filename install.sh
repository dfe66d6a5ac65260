#!/usr/bin/env bash
# Creates the virtual environment .venv (python3 -m venv; python where python3 is missing) and
# installs the pinned requirements into it, so that nothing is installed into the system's Python
# (which Debian and Ubuntu refuse: "externally managed"). Run the scripts with .venv/bin/python.
# With --tex also TeX Live (pdflatex, pgfplots, standalone) from Debian's packages when pdflatex
# is missing and apt-get can be used.
set -euo pipefail
cd "$(dirname "$0")"
python=$(command -v python3 || command -v python || true)
if [[ -z "$python" ]]; then
    echo "install.sh: neither python3 nor python found; install Python 3.11 (apt-get install python3)" >&2
    exit 1
fi
can_apt() { command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; }
if [[ ! -x .venv/bin/python ]] && ! "$python" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    if can_apt; then  # Debian and Ubuntu ship venv separately
        apt-get update -qq
        apt-get install -y -qq "python3-venv" >/dev/null
        "$python" -m venv .venv
    else
        echo "install.sh: $python -m venv failed; install the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
.venv/bin/python -m pip install -q -r requirements.txt
if [[ "${1:-}" == "--tex" ]] && ! command -v pdflatex >/dev/null; then
    if can_apt; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends texlive-latex-base texlive-latex-recommended \
            texlive-latex-extra texlive-pictures poppler-utils >/dev/null
    else
        echo "install.sh: pdflatex not found and apt-get unavailable; figures will not be compiled to PDF" >&2
    fi
fi
# Compile the numba loops once: numba caches them on disk (kinks/mc/__pycache__), so that a new user's
# first study runs at the speed the README states instead of compiling first (docs/performance.md).
echo "install.sh: compiling the numba loops once (about a minute)"
warm=$(mktemp -d)
trap 'rm -rf "$warm"' EXIT
for engine in reduced dense; do
    KINKS_RESULTS="$warm" .venv/bin/python mc_training.py run --widths 16 --offsets 0 --runs 64 --jobs 1 \
        --engine "$engine" --out "$warm/$engine" >/dev/null
done
KINKS_RESULTS="$warm" .venv/bin/python mc_minima.py risk --widths 16 --offsets 0 --runs 8 --chunk_size 8 \
    --max_epochs 2000 --jobs 1 --out "$warm/risk" >/dev/null
