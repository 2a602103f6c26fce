#!/usr/bin/env bash
# One prepared GPU session (device machine; torch there, no polars/dvc needed): training-loop and
# inference throughput (bench/bench_train.py), embed throughput of the committed fused checkpoint, and
# one full train@fused on CUDA through the stage script. Needs the pipeline outputs of `make demo`
# (data/interim, data/features, data/splits, models) carried along. Results land in $OUT.
set -uo pipefail
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
timeout 240 python3 bench/bench_train.py --device cuda --batch-sizes 256 1024 --batches 30 2>&1 | tail -5
cp bench/out/train_cuda.json "$OUT/" 2>/dev/null
python3 - <<'PY' 2>&1 | tee "$OUT/embed_cuda.txt"
import sys, json
sys.path.insert(0, "bench")
from bench_retrieval import embed_throughput
print(json.dumps({"cuda": embed_throughput("cuda"), "cpu_16_cores": embed_throughput("cpu")}))
PY
python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
p["train"]["device"] = "cuda"
for k in ("models", "metrics", "plots"):
    p["paths"][k] = f"/tmp/gpu/{k}"
yaml.safe_dump(p, open("/tmp/gpu_params.yaml", "w"), sort_keys=False)
PY
/usr/bin/time -v python3 stages/train.py --model fused --params /tmp/gpu_params.yaml > "$OUT/train_fused_cuda.log" 2>&1
grep -E "epoch [0-9]+: |Elapsed|Maximum resident" "$OUT/train_fused_cuda.log" | cut -c1-400
cp /tmp/gpu/metrics/train/fused.json "$OUT/train_fused_cuda.json" 2>/dev/null
ls -la "$OUT"
