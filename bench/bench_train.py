"""Training throughput with and without per-batch song deduplication (same run, same data), and
inference throughput scoring all test pairs from cached song embeddings vs encoding both songs per pair.

Runs on the pipeline outputs of `dvc repro` (paths from params.yaml); CPU unless --device cuda.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from songsim.config import load_params, model_section, section  # noqa: E402
from songsim.data import iter_batches, load_pairs, load_songs, make_batch, split_track_ids  # noqa: E402
from songsim.inference import predict, to_device  # noqa: E402
from songsim.models import MODELS, model_configs  # noqa: E402
from songsim.models.nets import build_model  # noqa: E402


def train_pairs_per_s(model, pairs, songs, batch_size, dedup, device, max_batches, amp) -> float:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    n, t = 0, None
    for k, (batch, rows) in enumerate(iter_batches(pairs, songs, batch_size, dedup, rng)):
        if k == 1:  # first batch is warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            t, n = time.perf_counter(), 0
        if k > max_batches:
            break
        batch = to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(batch)
        loss = torch.nn.functional.mse_loss(pred.float(), torch.from_numpy(pairs.score[rows]).to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(rows)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


@torch.no_grad()
def naive_inference_pairs_per_s(model, pairs, songs, batch_size, device) -> float:
    model.eval()
    t = time.perf_counter()
    for k in range(0, len(pairs), batch_size):
        b = to_device(make_batch(songs, pairs.src[k:k + batch_size], pairs.tgt[k:k + batch_size], dedup=False), device)
        model(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(pairs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--models", nargs="+", default=["lyrics_regressor", "audio_siamese", "fused"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, default=15, help="timed batches per setting")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[256])
    args = ap.parse_args()
    params = load_params(args.params, model_configs())
    paths, tcfg = section(params, "paths"), section(params, "train")
    device = torch.device(args.device)
    amp = device.type == "cuda" and tcfg.amp
    torch.manual_seed(0)
    cpu = f"cpu ({torch.get_num_threads()} threads)"
    res: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else cpu}
    for name in args.models:
        spec = MODELS[name]
        sec = model_section(params, name, spec.config)
        d = Path(paths.splits) / spec.split_set
        songs = load_songs(split_track_ids(d / "train.parquet", d / "test.parquet"),
                           paths.lyrics if spec.uses_lyrics else None, paths.audio if spec.uses_audio else None)
        tr, te = load_pairs(d / "train.parquet", songs), load_pairs(d / "test.parquet", songs)
        import pyarrow.parquet as pq

        vocab = pq.read_table(paths.vocab).num_rows
        row: dict = {}
        for bs in args.batch_sizes:
            for dedup in (False, True):
                model = build_model(name, sec.model, vocab).to(device)
                row[f"train_bs{bs}_{'dedup' if dedup else 'no_dedup'}_pairs_per_s"] = round(
                    train_pairs_per_s(model, tr, songs, bs, dedup, device, args.batches, amp), 1)
            row[f"train_bs{bs}_dedup_speedup"] = round(
                row[f"train_bs{bs}_dedup_pairs_per_s"] / row[f"train_bs{bs}_no_dedup_pairs_per_s"], 2)
        model = build_model(name, sec.model, vocab).to(device)
        t = time.perf_counter()
        predict(model, te, songs, tcfg.eval_batch_size, device, amp)
        cached = len(te) / (time.perf_counter() - t)
        naive = naive_inference_pairs_per_s(model, te, songs, tcfg.eval_batch_size, device)
        row.update({"test_pairs": len(te), "infer_cached_pairs_per_s": round(cached, 1),
                    "infer_naive_pairs_per_s": round(naive, 1), "infer_cache_speedup": round(cached / naive, 2)})
        res[name] = row
        print(name, row, file=sys.stderr)
    save(f"train_{args.device}", res)


if __name__ == "__main__":
    main()
