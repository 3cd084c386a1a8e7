#!/usr/bin/env bash
# GPU readiness check. From the repository root, on a machine with a CUDA GPU:
#
#   bash experiments/gpu_check.sh          (or: make gpu-check)
#
# Steps, each under its own time limit (seconds, overridable; 450 s in all, so the whole
# check ends within 8 minutes); a failing step is recorded and the next one still runs:
#   gpu-tests   pytest -m gpu tests: CPU <-> GPU bitstream exchange (tests/gpu/)   110
#   train-parity  pytest tests/train/train_step_parity_test.py (default device: GPU)  80
#   bench-entropy r2lcm bench entropy, 2^20 and 2^22 symbols, no TFC                  60
#   bench-codec   r2lcm bench codec --height 2920 --width 4386 (N=64, random weights) 140
#   bench-train   r2lcm bench train, 10 timed steps of batch 8 x 256^2                 60
# Limits: GPU_CHECK_LIMIT_<STEP> with the step's name in capitals and "_" for "-", e.g.
# GPU_CHECK_LIMIT_BENCH_CODEC=200.
#
# Writes one results file (versions, devices, every step's output, rc and time):
#   $R2LCM_GPU_CHECK_OUT if set; else $OUT/gpu_check_<UTC stamp>.txt when $OUT is a
#   writable folder; else experiments/results/gpu_check/<UTC stamp>.txt; else under /tmp.
# Python: $R2LCM_PYTHON, .venv/bin/python, python3: the first whose JAX sees a GPU. It
# needs jax with CUDA and the project's dependencies; nothing is downloaded.
# JAX_PLATFORMS defaults to cuda,cpu (the GPU test needs both backends).
# Test data: the parity test reads ../shared/data/reference/dev/train_step (28 MB); where
# ../shared is not beside the checkout, put a copy under shared/data in the checkout (used
# when R2LCM_SHARED_DATA is unset). Tests whose data is missing are reported as skipped.
# Exit status: 0 all steps passed, 1 a step failed, 2 no python sees a GPU.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export JAX_PLATFORMS="${JAX_PLATFORMS:-cuda,cpu}"
if [[ -z "${R2LCM_SHARED_DATA:-}" && ! -d ../shared/data && -d shared/data ]]; then
  export R2LCM_SHARED_DATA="$ROOT/shared/data"
fi
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"

results_file() {
  if [[ -n "${R2LCM_GPU_CHECK_OUT:-}" ]]; then
    echo "$R2LCM_GPU_CHECK_OUT"
  elif [[ -n "${OUT:-}" && -d "$OUT" && -w "$OUT" ]]; then
    echo "$OUT/gpu_check_$STAMP.txt"
  elif mkdir -p experiments/results/gpu_check 2>/dev/null && [[ -w experiments/results/gpu_check ]]; then
    echo "$ROOT/experiments/results/gpu_check/$STAMP.txt"
  else
    mkdir -p /tmp/r2lcm_gpu_check
    echo "/tmp/r2lcm_gpu_check/$STAMP.txt"
  fi
}
RESULTS="$(results_file)"
mkdir -p "$(dirname "$RESULTS")"
: > "$RESULTS"
STDERR_LOG="$(mktemp)"
STEP_OUT="$(mktemp)"
trap 'rm -f "$STDERR_LOG" "$STEP_OUT"' EXIT

say() { echo "$*" | tee -a "$RESULTS"; }

sees_gpu() {
  timeout 180 "$1" -c 'import sys, jax; sys.exit(0 if jax.devices("gpu") else 1)' \
    >/dev/null 2>&1
}

PY=""
for candidate in "${R2LCM_PYTHON:-}" .venv/bin/python python3; do
  [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1 || continue
  if sees_gpu "$candidate"; then PY="$candidate"; break; fi
  say "gpu_check: $candidate: JAX sees no GPU (JAX_PLATFORMS=$JAX_PLATFORMS)"
done
if [[ -z "$PY" ]]; then
  say "gpu_check: no python with a GPU-enabled JAX found; results: $RESULTS"
  exit 2
fi

say "# r2lcm_jax GPU check, $STAMP"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
say "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
command -v nvidia-smi >/dev/null 2>&1 && \
  say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | paste -sd ';')"
"$PY" - >> "$RESULTS" 2>"$STDERR_LOG" <<'EOF' || { say "versions: failed"; tail -n 20 "$STDERR_LOG" >> "$RESULTS"; }
import os
import r2lcm_jax  # sets XLA_FLAGS first (r2lcm_jax/xla_setup.py)
import jax, jaxlib
print(f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, default backend "
      f"{jax.default_backend()}, devices {jax.devices()}")
print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r} JAX_PLATFORMS={os.environ.get('JAX_PLATFORMS')!r}")
EOF

FAILED=0
SUMMARY=()
limit_for() {
  local var="GPU_CHECK_LIMIT_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  echo "${!var:-$2}"
}

step() {  # step NAME DEFAULT_LIMIT COMMAND...
  local name=$1 limit rc=0 t0=$SECONDS tests=""
  limit="$(limit_for "$1" "$2")"
  shift 2
  say ""
  say "## $name (limit ${limit} s): $(printf '%q ' "$@")"
  timeout --kill-after=10 "$limit" "$@" >"$STEP_OUT" 2>"$STDERR_LOG" || rc=$?
  cat "$STEP_OUT" >> "$RESULTS"
  if [[ $rc != 0 ]]; then
    { echo "--- last lines of stderr:"; tail -n 60 "$STDERR_LOG" | tr '\r' '\n' | tail -n 60; } >> "$RESULTS"
    FAILED=1
  fi
  if [[ $rc == 124 || $rc == 137 ]]; then say "$name: ran past its ${limit} s limit"; fi
  if [[ "$*" == *pytest* ]]; then
    tests="$(grep -E '[0-9]+ (passed|failed|skipped|errors?|deselected)' "$STEP_OUT" | tail -n 1 || true)"
    tests="; ${tests:-no pytest summary line}"
  fi
  say "-- $name: rc=$rc, $((SECONDS - t0)) s$tests"
  SUMMARY+=("$name: rc=$rc, $((SECONDS - t0)) s$tests")
}

step gpu-tests 110 "$PY" -m pytest -q -rA -m gpu tests
PARITY=tests/train/train_step_parity_test.py
if [[ -f "$PARITY" ]]; then
  step train-parity 80 "$PY" -m pytest -q -rA -m '' "$PARITY"
else
  say ""
  say "## train-parity: $PARITY not found"
  SUMMARY+=("train-parity: missing")
  FAILED=1
fi
step bench-entropy 60 "$PY" -m r2lcm_jax bench entropy --sizes 20,22 --lanes 1024,4096 \
  --substreams 4,auto --repeats 2 --notfc
step bench-codec 140 "$PY" -m r2lcm_jax bench codec --height 2920 --width 4386 --repeats 1
step bench-train 60 "$PY" -m r2lcm_jax bench train --steps 10 --warmup 2

say ""
say "## summary"
for line in "${SUMMARY[@]}"; do say "$line"; done
say "results: $RESULTS"
exit "$FAILED"
