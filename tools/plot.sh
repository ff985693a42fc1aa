#!/usr/bin/env bash
# //tools:plot: runs plot.py with Debian's Python (python3-matplotlib).
here="$(dirname "$0")"
script="${here}/plot.py"
[[ -f ${script} ]] || script="${RUNFILES_DIR:-$0.runfiles}/torchtrain/tools/plot.py"
exec /usr/bin/python3 "${script}" "$@"
