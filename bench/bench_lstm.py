"""A BiLSTM over real-length songs: PyTorch's packed LSTM (baseline) against ``_own_length_lstm`` (ours).

Both run one training step (forward, backward) of the same bidirectional layer, same weights, same inputs,
in this process, one after the other: U songs of lognormal lengths (median 185 words, as the musiXmatch
samples) cut to L tokens. Prints a JSON line and writes ``bench/out/lstm.json``.

    python bench/bench_lstm.py [--songs 450] [--max-len 300 100] [--units 64 32] [--repeats 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT  # noqa: E402

from songsim.models.nets import _own_length_lstm  # noqa: E402


def step(lstm: torch.nn.LSTM, x: torch.Tensor, lengths: torch.Tensor, packed: bool) -> float:
    """Seconds of one forward + backward pass to the final states."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t = time.perf_counter()
    if packed:
        h = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[1][0]
    else:
        h = _own_length_lstm(lstm, x, lengths.to(x.device))[1]
    h.sum().backward()
    sync()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=450)
    ap.add_argument("--max-len", type=int, nargs="+", default=[300, 100])
    ap.add_argument("--units", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for length in a.max_len:
        for units in a.units:
            lengths = torch.tensor(np.clip(np.random.default_rng(0).lognormal(np.log(185), 0.6, a.songs), 1, length)
                                   .astype(np.int64))
            lstm = torch.nn.LSTM(50, units, batch_first=True, bidirectional=True).to(a.device)
            x = torch.randn(a.songs, length, 50, device=a.device, requires_grad=True)
            step(lstm, x, lengths, False), step(lstm, x, lengths, True)  # warm-up (kernels, allocator)
            base = min(step(lstm, x, lengths, True) for _ in range(a.repeats))
            new = min(step(lstm, x, lengths, False) for _ in range(a.repeats))
            rows.append({"songs": a.songs, "max_len": length, "units": units, "packed_s": round(base, 5),
                         "ours_s": round(new, 5), "speedup": round(base / new, 2), "threads": torch.get_num_threads(),
                         "device": a.device})
            print(json.dumps(rows[-1]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"lstm_{a.device}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
