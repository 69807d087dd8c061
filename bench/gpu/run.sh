#!/usr/bin/env bash
# Every GPU check in one go, on a machine with a CUDA device and only python3, torch, transformers,
# sentencepiece and pytest (no Django, none of requirements/): the CUDA tests, the engine and fast
# XLNet tests, and bench/classifier.py at XLNet-base and XLNet-large sizes. About 5-8 minutes on
# an H200.
#
#   bash bench/gpu/run.sh             # on the GPU machine; writes into $OUT (./out when unset)
#   PYTHON=.venv/bin/python bash bench/gpu/run.sh --dry-run   # here, on the CPU, small and short
#
# What lands in $OUT: env.txt (nvidia-smi, versions), steps.txt (each step's seconds and exit
# status), pytest.txt, gpu-base.json and gpu-large.json (one JSON object each; the tables and
# progress go to the matching .log). A failed step is recorded and the next one runs.
# --dry-run runs the same steps on the CPU with 8 texts and short timings, with Django, rq and
# structlog made unimportable as they are on the GPU image; the CUDA tests skip there.
set -u

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-./out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Models are built once per machine; outside $OUT, which comes back (XLNet-large is 1.4 GB).
CACHE=${BENCH_CACHE:-${TMPDIR:-/tmp}/bench-models}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

BENCH_ARGS=(--json --skip-naive --cache-dir "$CACHE" --repeats 2)
# seconds allowed per step: the sum stays under 8 minutes
PYTEST_LIMIT=120 BASE_LIMIT=150 LARGE_LIMIT=210
if [ "$DRY_RUN" = 1 ]; then
    BENCH_ARGS=(--json --skip-naive --cache-dir "$CACHE" --quick --texts 8 --repeats 1 --pipeline-texts 4
        --roofline-seconds 0.2)
    PYTEST_LIMIT=300 BASE_LIMIT=300 LARGE_LIMIT=600
    # What the GPU image lacks, made unimportable, so a dependency on it fails here first.
    BLOCK=$(mktemp -d)
    trap 'rm -rf "$BLOCK"' EXIT
    printf 'import sys\nfor _name in ("django", "rq", "structlog", "redis", "boto3"):\n    sys.modules[_name] = None\n' \
        >"$BLOCK/sitecustomize.py"
    export PYTHONPATH="$BLOCK${PYTHONPATH:+:$PYTHONPATH}"
fi

: >"$OUT/steps.txt"
FAILED=0

# step NAME LIMIT STDOUT-FILE COMMAND...: run it with a time limit, append its timing and status.
step() {
    local name=$1 limit=$2 stdout=$3
    shift 3
    local started rc ms
    started=$(date +%s%N)
    echo "[$(date +%H:%M:%S)] $name: $*" >&2
    timeout --kill-after=10 "$limit" "$@" >>"$stdout" 2>>"$OUT/$name.log"
    rc=$?
    ms=$((($(date +%s%N) - started) / 1000000))
    printf '%-14s rc=%-3s %5d.%01d s  limit %s s  %s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100)) \
        "$limit" "$*" >>"$OUT/steps.txt"
    [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "dry run: $DRY_RUN"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
    echo "cores: $(nproc)"
    echo "python: $($PYTHON --version 2>&1) ($PYTHON)"
    $PYTHON - <<'EOF' 2>&1
import importlib.metadata as md
import torch
for name in ("torch", "transformers", "sentencepiece", "pytest", "safetensors", "tokenizers"):
    try:
        print(f"{name}: {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
print(f"torch cuda: {torch.version.cuda}, available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device: {p.name}, {p.total_memory / 2**30:.1f} GiB, capability {p.major}.{p.minor}, bf16 {torch.cuda.is_bf16_supported()}")
EOF
    echo
    if command -v nvidia-smi >/dev/null; then nvidia-smi; else echo "nvidia-smi: not found"; fi
} >"$OUT/env.txt"

PYTEST=("$PYTHON" -m pytest -q -p no:cacheprovider -p no:django --confcutdir tests/classifier -rs)
step pytest-gpu "$PYTEST_LIMIT" "$OUT/pytest.txt" "${PYTEST[@]}" -m gpu tests/classifier/test_engine_cuda.py
step pytest-engine "$PYTEST_LIMIT" "$OUT/pytest.txt" "${PYTEST[@]}" tests/classifier/test_engine.py \
    tests/classifier/test_engine_memory.py tests/classifier/test_engine_device.py tests/classifier/test_xlnet_fast.py
step bench-base "$BASE_LIMIT" "$OUT/gpu-base.json" "$PYTHON" bench/classifier.py --model base "${BENCH_ARGS[@]}"
step bench-large "$LARGE_LIMIT" "$OUT/gpu-large.json" "$PYTHON" bench/classifier.py --model large "${BENCH_ARGS[@]}"

echo "$FAILED step(s) failed; see $OUT/steps.txt" | tee -a "$OUT/steps.txt" >&2
[ "$FAILED" = 0 ]
