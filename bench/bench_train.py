"""Training-loop throughput against its ceiling, and the loop it replaced, in one process.

Per model and batch size, on the same data, from the same initial weights:
- ``ceiling``: forward + backward + optimiser step over batches already gathered on the device (no host
  work at all): what the model itself allows;
- ``loop``: the training loop as `train` runs it (`songsim.learn.loop.train_steps` over `songsim.learn.batches`);
- ``before``: the loop as it was before issue 12, rebuilt here: batches built on the host every step
  (numpy gather, then a copy to the device) and two host synchronisations per step (the loss and the
  predictions read back).
Also inference: every test pair scored from cached song vectors vs encoding both songs per pair.

Runs on the pipeline outputs of `dvc repro` (paths from params.yaml). CPU always; CUDA too when present.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from songsim.core.config import load_params, model_section, section  # noqa: E402
from songsim.learn.batches import SongStore, make_batch, plan_epoch  # noqa: E402
from songsim.learn.data import load_pairs, load_songs, split_track_ids  # noqa: E402
from songsim.learn.inference import predict, targets, to_device  # noqa: E402
from songsim.learn.loop import loss_fn, prepare, train_steps  # noqa: E402
from songsim.models import MODELS, model_configs  # noqa: E402
from songsim.models.nets import build_model  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def before_loop(model, opt, steps, songs, pairs, task, device, amp) -> None:
    """The pre-issue-12 loop: host-built batches, per-step ``float(loss)`` and ``pred.cpu()``."""
    tot_loss = tot_abs = 0.0
    y_all = targets(task, pairs)
    host = SongStore(songs, torch.device("cpu"))  # gathers with numpy-backed tensors on the host
    for s in steps:
        batch = host.tensors(s.songs)
        batch["left"], batch["right"] = torch.from_numpy(s.left), torch.from_numpy(s.right)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}  # lengths too, as before
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(batch)
        y = torch.from_numpy(y_all[s.rows]).to(device)
        loss = loss_fn(task, pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tot_loss += float(loss.detach()) * len(s.rows)
        tot_abs += float(np.abs(pred.detach().float().cpu().numpy() - y_all[s.rows]).sum())


def measure(name, sec, songs, pairs, vocab, bs, device, n_steps, amp, dedup, repeats) -> dict:
    spec = MODELS[name]
    torch.manual_seed(0)
    base = build_model(name, sec.model, vocab).to(device)
    store = SongStore(songs, device, width_multiple=1 if device.type == "cpu" else 32)
    y = torch.from_numpy(targets(spec.task, pairs)).to(device)
    steps = list(itertools.islice(plan_epoch(pairs, bs, dedup, np.random.default_rng(0)), n_steps + 1))
    staged = list(prepare(store, steps))  # on the device, before any timing
    n = sum(len(s.rows) for s in steps[1:])

    def fresh():
        m = copy.deepcopy(base)
        m.train()
        return m, torch.optim.Adam(m.parameters(), lr=1e-3)

    runs = {
        "ceiling": lambda m, o: train_steps(m, o, iter(staged[1:]), y, spec.task, amp),
        "loop": lambda m, o: float(train_steps(m, o, prepare(store, steps[1:]), y, spec.task, amp)["loss"]),
        "before": lambda m, o: before_loop(m, o, steps[1:], songs, pairs, spec.task, device, amp),
    }
    if device.type == "cuda":  # the song table over its budget: gathered on the host, pinned, copied async
        streamed = SongStore(songs, device, resident_mb=0, width_multiple=32)
        runs["loop_streamed"] = lambda m, o: float(
            train_steps(m, o, prepare(streamed, steps[1:]), y, spec.task, amp)["loss"])
    best: dict[str, float] = {}
    keys = list(runs)
    for r in range(repeats):  # interleaved, order rotated, best of ``repeats``: noise hits every variant alike
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            fn = runs[key]
            m, o = fresh()
            train_steps(m, o, iter(staged[:1]), y, spec.task, amp)  # warm-up step (kernels, allocator)
            best[key] = max(best.get(key, 0.0), n / timed(lambda f=fn, m=m, o=o: f(m, o), device))
    return {"pairs_per_s": {k: round(v, 1) for k, v in best.items()},
            "loop_over_ceiling": round(best["loop"] / best["ceiling"], 3),
            "before_over_ceiling": round(best["before"] / best["ceiling"], 3),
            "loop_over_before": round(best["loop"] / best["before"], 2),
            **({"streamed_over_ceiling": round(best["loop_streamed"] / best["ceiling"], 3)}
               if "loop_streamed" in best else {}),
            "steps": n_steps, "dedup": dedup, "width_multiple": store.width_multiple}


@torch.no_grad()
def inference(name, sec, songs, te, vocab, eval_bs, device, amp) -> dict:
    model = build_model(name, sec.model, vocab).to(device)

    def cached():
        predict(model, te, songs, eval_bs, device, amp)

    def naive():
        model.eval()
        for k in range(0, len(te), eval_bs):
            model(to_device(make_batch(songs, te.src[k:k + eval_bs], te.tgt[k:k + eval_bs], dedup=False), device))

    cached(), naive()  # warm-up: kernel selection for these shapes, allocator
    cached_ps = max(len(te) / timed(cached, device) for _ in range(3))
    naive_ps = max(len(te) / timed(naive, device) for _ in range(3))
    return {"test_pairs": len(te), "cached_pairs_per_s": round(cached_ps, 1),
            "naive_pairs_per_s": round(naive_ps, 1), "cache_speedup": round(cached_ps / naive_ps, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--models", nargs="+", default=["lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused"])
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    ap.add_argument("--steps", type=int, default=20, help="timed optimiser steps per variant")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--lstm-units", type=int, nargs="+", default=None,
                    help="override lstm_units (e.g. 256 128: the published size)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    params = load_params(args.params, model_configs())
    paths, tcfg = section(params, "paths"), section(params, "train")
    res: dict = {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                 "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                 "lstm_units": args.lstm_units}
    for name in args.models:
        spec = MODELS[name]
        sec = model_section(params, name, spec.config)
        if getattr(sec.model, "audio_init", "none") != "none":  # times fused's whole network, as recorded
            from dataclasses import replace

            sec = replace(sec, model=replace(sec.model, audio_init="none", freeze_audio=False))
        if args.lstm_units:
            from dataclasses import replace

            enc = spec.lyrics_config(sec.model)
            if enc is not None:
                field = "encoder" if hasattr(sec.model, "encoder") else "lyrics"
                sec = replace(sec, model=replace(sec.model, **{field: replace(enc, lstm_units=tuple(args.lstm_units))}))
        d = Path(paths.splits) / spec.split_set
        songs = load_songs(split_track_ids(d / "train.parquet", d / "test.parquet"),
                           paths.lyrics if spec.uses_lyrics else None, paths.audio if spec.uses_audio else None,
                           spec.bag_words(sec.model), spec.partial)
        tr, te = load_pairs(d / "train.parquet", songs), load_pairs(d / "test.parquet", songs)
        vocab = pq.read_table(paths.vocab).num_rows
        for dev in devices:
            device = torch.device(dev)
            amp = device.type == "cuda" and tcfg.amp
            row = {f"bs{bs}": measure(name, sec, songs, tr, vocab, bs, device, args.steps, amp,
                                      tcfg.use_dedup(device.type), args.repeats) for bs in args.batch_sizes}
            row["inference"] = inference(name, sec, songs, te, vocab, tcfg.eval_batch_size, device, amp)
            res[f"{name}@{dev}"] = row
            print(name, dev, row, file=sys.stderr)
    save(f"train{args.tag}", res)


if __name__ == "__main__":
    main()
