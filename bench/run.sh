#!/usr/bin/env bash
# One benchmark run on this machine: the in-process ceiling, then the load test against a server
# started by load.py (so its memory is measured), then the targets.
#   bench/run.sh /work/shared/datasets/label-recognition/images [OUTDIR] [extra load.py flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${1:?usage: bench/run.sh IMAGES [OUTDIR] [load.py flags...]}
OUT=${2:-bench/out}
shift $(( $# >= 2 ? 2 : 1 ))
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
$PY -m bench.inprocess "$IMAGES" --limit 30 --threads 1,2,3,4 --intra-op 1,2 --json "$OUT/inprocess.json"
CEILING=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['ceiling']['throughput_ips'])" "$OUT/inprocess.json")
$PY -m bench.load "$IMAGES" --spawn --limit 30 --concurrency 1,2,4,8,16,32 --poisson 1.5,2.5 \
  --duration-s 30 --warmup-s 8 --overload-concurrency 64 --overload-timeout-s 3 \
  --ceiling-ips "$CEILING" --json "$OUT/load.json" --plot "$OUT/load.png" "$@"
$PY -m bench.targets "$OUT/inprocess.json" "$OUT/load.json" | tee "$OUT/targets.md"
