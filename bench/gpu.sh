#!/usr/bin/env bash
# The same run with the GPU providers (TensorRT first, then CUDA), on a host with onnxruntime-gpu
# (pip install -e '.[gpu]', or Dockerfile.gpu). Batch sizes per model come from the `cuda` blocks
# of models/*/config.yaml (TensorRT sessions use them too); measure them first:
#   bench/gpu.sh /path/to/images [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${1:?usage: bench/gpu.sh IMAGES [OUTDIR]}
OUT=${2:-bench/out/gpu}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -m bench.batch_sizes --providers tensorrt,cuda --threads 1 | tee "$OUT/batch_sizes.txt"
$PY -m bench.inprocess "$IMAGES" --limit 60 --threads 1,2,4,8 --intra-op 1 --providers tensorrt,cuda \
  --json "$OUT/inprocess.json"
CEILING=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['ceiling']['throughput_ips'])" "$OUT/inprocess.json")
$PY -m bench.load "$IMAGES" --spawn --limit 60 --concurrency 1,2,4,8,16,32 --poisson 10,20 \
  --duration-s 30 --warmup-s 10 --overload-concurrency 64 --overload-timeout-s 1 \
  --server-arg=--providers=tensorrt,cuda,cpu --ceiling-ips "$CEILING" \
  --json "$OUT/load.json" --plot "$OUT/load.png"
$PY -m bench.targets "$OUT/inprocess.json" "$OUT/load.json" | tee "$OUT/targets.md"
