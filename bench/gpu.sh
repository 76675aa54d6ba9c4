#!/usr/bin/env bash
# Every GPU figure in one run (~8 min at most): bash bench/gpu.sh [--device cuda|cpu] [--scale S] [--quick]
#
# Run from the checkout on the GPU machine (../shared/GPU.md): installs .gpu/dgl-2.1.0-*.whl into a temporary
# --target when DGL does not import already, puts the checkout on PYTHONPATH, then runs each step of
# bench/gpu_figures.py under its own `timeout`, so one failing or slow step does not hide the others, and prints
# one table. Logs and the table go to $OUT (default /tmp/hetrec-gpu): logs/<step>.log, gpu_figures.md/.json.
# Dry run on CPU: bash bench/gpu.sh --device cpu --scale 0.05   (--quick: tiny budgets, for the test suite)
set -u
DEVICE=cuda SCALE=1.0 QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2;;
    --scale) SCALE=$2; shift 2;;
    --quick) QUICK=1; shift;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/hetrec-gpu}
export OUT
mkdir -p "$OUT/logs" "$OUT/work/results"
rm -f "$OUT"/work/results/*
PY=${PYTHON:-python3}
T0=$(date +%s)

if ! PYTHONPATH=${PYTHONPATH:-}:$PWD $PY -c "import hetrec, dgl" >/dev/null 2>&1; then
  S=$(mktemp -d)
  $PY -m pip install -q --no-index --no-deps --target "$S" .gpu/dgl-2.1.0-*.whl > "$OUT/logs/install.log" 2>&1 \
    || { echo "DGL install failed, see $OUT/logs/install.log"; cat "$OUT/logs/install.log"; }
  export PYTHONPATH=$S:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

ARGS=(--device "$DEVICE" --scale "$SCALE" --work "$OUT/work" --out "$OUT")
# step budgets in seconds (they sum to 480 s: the 8-minute budget of ../shared/GPU.md)
if [ "$QUICK" = 1 ]; then
  ARGS+=(--ft-epochs 1 --ft-batch 8192 --pt-batch 4096)
  declare -A BUDGET=([env]=30 [pytest]=60 [data]=60 [kernels]=30 [finetune]=60 [evaluate]=30
                     [pretrain-rgcn]=60 [pretrain-kgat]=60 [pretrain-ramgnn]=60)
else
  declare -A BUDGET=([env]=15 [pytest]=75 [data]=90 [kernels]=30 [finetune]=60 [evaluate]=30
                     [pretrain-rgcn]=60 [pretrain-kgat]=70 [pretrain-ramgnn]=50)
fi

step() {  # step NAME COMMAND...: run under its budget, keep the log and the exit status
  local name=$1; shift
  local t=$(date +%s)
  timeout -k 5 "${BUDGET[$name]}" "$@" > "$OUT/logs/$name.log" 2>&1
  local rc=$?
  echo $rc > "$OUT/work/results/$name.rc"
  printf '%-16s rc %-3s %4ss\n' "$name" "$rc" "$(( $(date +%s) - t ))"
  [ "$rc" = 0 ] || tail -n 5 "$OUT/logs/$name.log" | sed 's/^/    /'
}

step env $PY bench/gpu_figures.py env "${ARGS[@]}"
cat "$OUT/logs/env.log"
if [ "$DEVICE" = cpu ]; then  # no CUDA here: run the gpu tests CPU vs CPU, which checks the tests themselves
  step pytest env HETREC_TEST_DEVICE=cpu $PY -m pytest -q -m gpu -p no:cacheprovider tests
else
  step pytest $PY -m pytest -q -m gpu -p no:cacheprovider tests
fi
step data $PY bench/gpu_figures.py data "${ARGS[@]}"
for s in kernels finetune evaluate pretrain-rgcn pretrain-kgat pretrain-ramgnn; do
  step $s $PY bench/gpu_figures.py $s "${ARGS[@]}"
done
echo
$PY bench/gpu_figures.py table "${ARGS[@]}" | tee "$OUT/logs/table.log"
echo "total wall $(( $(date +%s) - T0 )) s; logs and table in $OUT"
