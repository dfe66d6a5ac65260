#!/usr/bin/env bash
# Installs the Python requirements; with --tex also TeX Live (pdflatex, pgfplots, standalone)
# from Debian's packages when pdflatex is missing and apt-get can be used.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -q -r requirements.txt
if [[ "${1:-}" == "--tex" ]] && ! command -v pdflatex >/dev/null; then
    if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends texlive-latex-base texlive-latex-recommended \
            texlive-latex-extra texlive-pictures poppler-utils >/dev/null
    else
        echo "install.sh: pdflatex not found and apt-get unavailable; figures will not be compiled to PDF" >&2
    fi
fi
