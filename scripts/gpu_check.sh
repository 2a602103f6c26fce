#!/usr/bin/env bash
# One prepared GPU session (device machine; torch there, no polars/dvc needed). Needs the pipeline
# outputs of `make demo` (data/interim, data/features, data/splits) carried along. Results land in $OUT.
#  1. bench/bench_train.py on CUDA: loop vs ceiling vs the pre-issue-12 loop, demo sizes, batch 256/1024;
#  2. the same at the published LSTM size (256/128) for the lyrics models and fused;
#  3. one full train@fused at published size through the stage script (epoch times, pairs/s);
#  4. one full train@fused at demo size (against the pre-issue-12 figure in bench/README.md).
set -uo pipefail
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 BENCH_OUT="$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
timeout 180 python3 bench/bench_train.py --devices cuda --steps 30 --repeats 2 2>&1 | grep -v "^ " | tail -4
timeout 120 python3 bench/bench_train.py --devices cuda --steps 30 --repeats 2 --lstm-units 256 128 \
    --models lyrics_regressor fused --tag _published 2>&1 | grep -v "^ " | tail -3
for size in published demo; do
python3 - "$size" <<'PY'
import sys, yaml
size = sys.argv[1]
p = yaml.safe_load(open("params.yaml"))
p["train"]["device"] = "cuda"
p["fused"]["model"].update(audio_init="none", freeze_audio=False)  # the whole network trains, as recorded before
if size == "published":
    p["fused"]["model"]["lyrics"]["lstm_units"] = [256, 128]
for k in ("models", "metrics", "plots", "reports"):
    p["paths"][k] = f"/tmp/gpu_{size}/{k}"
yaml.safe_dump(p, open(f"/tmp/gpu_{size}.yaml", "w"), sort_keys=False)
PY
/usr/bin/time -v timeout 100 python3 stages/train.py --model fused --params "/tmp/gpu_$size.yaml" > "$OUT/train_fused_$size.log" 2>&1
grep -E "epoch [0-9]+: |Elapsed|Maximum resident|song table" "$OUT/train_fused_$size.log" | cut -c1-330
cp "/tmp/gpu_$size/reports/train_fused.json" "$OUT/train_fused_$size.json" 2>/dev/null
done
ls -la "$OUT"
