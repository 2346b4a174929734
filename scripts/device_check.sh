#!/usr/bin/env bash
# The GPU check in one run (issue 20): install the kit's wheels, then scripts/device_check.py runs the CUDA tests,
# the GPU benchmarks and the chapters on CUDA, and writes $OUT/device_report.md. Run from the repository root:
#
#   bash scripts/device_check.sh                      # on the CUDA machine (the kit .devkit/ travels with `carry`)
#   bash scripts/device_check.sh --only benchmarks    # one step again; --budget SECONDS for all (default 450)
#   bash scripts/device_check.sh --only search        # second call (carry .devkit_search/): search vs faiss,
#                                                     #   writes $OUT/search_report.md (default budget 170 s)
#   PYTHON=.venv/bin/python OUT=/tmp/devout bash scripts/device_check.sh --dry-run   # here, every step, tiny sizes
#
# Build the kits first, here: .venv/bin/python scripts/build_device_kit.py [--part search]
# The GloVe vectors and MiniLM weights travel in parts, staged one call each: scripts/device_data.py
set -u
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/device_out}
KIT=${KIT:-.devkit}
SEARCH_KIT=${SEARCH_KIT:-.devkit_search}
SITE=${DEVKIT_SITE:-/tmp/site}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# Which kits the steps need: the main kit for tests, benchmarks, chapters; the search kit for search.
ONLY=tests,benchmarks,chapters
prev=""
for arg in "$@"; do
  case "$prev" in --only) ONLY=$arg ;; esac
  case "$arg" in --only=*) ONLY=${arg#--only=} ;; esac
  prev=$arg
done
KITS=""
case ",$ONLY," in *,tests,* | *,benchmarks,* | *,chapters,*) KITS=$KIT ;; esac
case ",$ONLY," in *,search,*) KITS="$KITS $SEARCH_KIT" ;; esac

: >"$OUT/install.log"
for kit in $KITS; do
  if [ ! -f "$kit/manifest.json" ]; then
    echo "no kit at $kit: build it with scripts/build_device_kit.py$([ "$kit" = "$SEARCH_KIT" ] && echo ' --part search') and carry it" \
      | tee -a "$OUT/install.log"
    exit 2
  fi
done
# The wheels are CPython 3.12 builds (the GPU machine's Python); another Python uses its own packages (dry run).
if "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
  for kit in $KITS; do
    start=$(date +%s)
    if "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
         "$kit"/whl/*.whl >>"$OUT/install.log" 2>&1; then
      echo "installed $(ls "$kit"/whl | tr '\n' ' ')into $SITE in $(( $(date +%s) - start )) s" | tee -a "$OUT/install.log"
    else
      echo "wheel install from $kit FAILED (see install.log); going on without them" | tee -a "$OUT/install.log"
    fi
  done
  export PYTHONPATH="$SITE:$PWD:$PWD/$KIT/site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "$("$PYTHON" -V) is not 3.12: the kits' wheels are not installed; this Python's own packages are used" \
    | tee -a "$OUT/install.log"
  export PYTHONPATH="$PWD:$PWD/$KIT/site${PYTHONPATH:+:$PYTHONPATH}"
fi
# The big data files (GloVe, MiniLM weights), if earlier calls staged their pieces (scripts/device_data.py):
# device_check.py assembles them; GloVe lands in $DEVDATA/site.
DEVDATA=${DEVDATA:-/tmp/devdata}
if [ -f "$DEVDATA/manifest.json" ]; then
  export PYTHONPATH="$PYTHONPATH:$DEVDATA/site"
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" scripts/device_check.py --kit "$KIT" --search-kit "$SEARCH_KIT" --out "$OUT" "$@"
