"""Inference over the training data structures: song vectors and cached-vector pair scores.

Used by the training loop (validation), evaluation, serving and the benchmarks. Checkpoints and the device
choice live in :mod:`songsim.core.checkpoint`.
"""

from __future__ import annotations

import numpy as np
import torch

from songsim.core.calibration import block_presence, pair_groups
from songsim.core.ranking import Judgments, catalog_ndcg
from songsim.learn.batches import SongStore
from songsim.learn.data import PairData, SongTable
from songsim.models.nets import PairModel, members_of

# the first block's (lyrics') share of the ranking score tried by ``choose_rank_mix``; never 0 or 1, so a song
# with one modality is still ranked by it among the songs that have it
MIX_SHARES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Model inputs on ``device``; ``lengths`` stay on the host, where packing reads them (no device sync)."""
    return {k: v if k == "lengths" else v.to(device, non_blocking=True) for k, v in batch.items()}


def targets(task: str, pairs: PairData) -> np.ndarray:
    """What a model of ``task`` is trained to predict: the 0/1 label or the score."""
    return pairs.label.astype(np.float32) if task == "classification" else pairs.score


@torch.no_grad()
def encode_songs(model: PairModel, songs: SongTable | SongStore, rows: np.ndarray, batch_size: int,
                 device: torch.device, amp: bool = False) -> torch.Tensor:
    """Song vectors ``(len(rows), D)`` float32 on ``device``, encoded in batches of ``batch_size`` songs.

    ``songs``: a store already on the device (training), or a table, gathered on the host batch by batch."""
    model.eval()
    if isinstance(songs, SongTable):
        songs = SongStore(songs, torch.device("cpu"))  # no copy: views of the table's arrays
    vecs = None
    for k in range(0, len(rows), batch_size):
        part = rows[k:k + batch_size]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            v = model.encode(to_device(songs.tensors(part), device)).float()  # (B, D)
        if vecs is None:
            vecs = torch.empty((len(rows), v.shape[1]), device=device)
        vecs[k:k + len(part)] = v
    if vecs is None:
        raise ValueError("encode_songs: no songs to encode")
    return vecs


def encode_pair_songs(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int,
                      device: torch.device, amp: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Each song of ``pairs`` encoded once: vectors ``(S', D)`` and, per song row of ``songs``, its row in
    them (``-1`` for songs no pair uses)."""
    needed = np.unique(np.concatenate([pairs.src, pairs.tgt]))
    vecs = encode_songs(model, songs, needed, batch_size, device, amp)  # (S', D)
    pos = np.full(len(songs), -1, dtype=np.int64)
    pos[needed] = np.arange(len(needed))
    return vecs, pos


@torch.no_grad()
def predict(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int, device: torch.device,
            amp: bool = False) -> np.ndarray:
    """Score every pair: encode each song once (cached vectors), then decode pairs in batches."""
    model.eval()
    vecs, pos = encode_pair_songs(model, pairs, songs, batch_size, device, amp)
    out = np.empty(len(pairs), dtype=np.float32)
    for k in range(0, len(pairs), batch_size):
        left = torch.from_numpy(pos[pairs.src[k:k + batch_size]]).to(device)
        right = torch.from_numpy(pos[pairs.tgt[k:k + batch_size]]).to(device)
        out[k:k + len(left)] = model.score(vecs, left, right).float().cpu().numpy()
    return out


@torch.no_grad()
def val_catalog_ndcg(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int,
                     device: torch.device, amp: bool, relevant_score: float, k: int) -> float | None:
    """nDCG@k of ranking the songs of ``pairs`` (the validation catalog) for each other by the ranking
    space, graded by the Last.fm scores of the listed pairs: what model selection on ranking reads."""
    vecs, judged = _catalog(model, pairs, songs, batch_size, device, amp, relevant_score)
    return catalog_ndcg(model.rank_space(vecs).cpu().numpy(), judged, k)


def _catalog(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int,
             device: torch.device, amp: bool, relevant_score: float) -> tuple[torch.Tensor, Judgments]:
    """The songs of ``pairs`` (a catalog to rank) encoded ``(T, D)``, and the judgments of ranking them."""
    rows = np.unique(np.concatenate([pairs.src, pairs.tgt]))
    judged = Judgments(pairs.src, pairs.tgt, pairs.score, pairs.labelled, rows, relevant_score)
    return encode_songs(model, songs, rows, batch_size, device, amp), judged


@torch.no_grad()
def choose_rank_mix(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int,
                    device: torch.device, amp: bool, relevant_score: float, k: int) -> dict | None:
    """``train.rank_mix: val``: of the learned mixture of a two-block model's modality cosines (an ensemble:
    each member's) and the shared shares :data:`MIX_SHARES`, keep the one whose ranking space ranks the
    validation catalog best (nDCG@k; the learned one on a tie). The listwise loss learns the mixture on
    training pairs, where a tower that fits them closely looks better than it ranks songs it never saw.
    Sets the model's ``rank_mix`` in place; returns each candidate's nDCG@k and the choice, or None for a
    one-block model or a catalog with nothing to rank."""
    members = members_of(model)
    if len(members[0].vector_blocks()) != 2:
        return None
    vecs, judged = _catalog(model, pairs, songs, batch_size, device, amp, relevant_score)  # the mixture is not in vecs
    # each candidate: every member's rank_mix logits
    candidates = {"learned": [m.rank_mix.detach().clone() for m in members]} | {
        f"{share:g}": [torch.log(torch.tensor([share, 1.0 - share], device=m.rank_mix.device)) for m in members]
        for share in MIX_SHARES}
    tried: dict[str, float] = {}
    for name, logits in candidates.items():  # "learned" first: the model is left as it was when it is None
        for m, w in zip(members, logits):
            m.rank_mix.copy_(w)
        value = catalog_ndcg(model.rank_space(vecs).cpu().numpy(), judged, k)
        if value is None:  # no validation song has a relevant similar: nothing to choose by
            return None
        tried[name] = value
    choice = max(tried, key=lambda c: (tried[c], c == "learned"))
    for m, w in zip(members, candidates[choice]):
        m.rank_mix.copy_(w)
    return {"choice": choice, "lyrics_share": round(float(model.rank_weights()[0::2].sum()), 4),
            "val_ndcg": {c: round(v, 6) for c, v in tried.items()}}


@torch.no_grad()
def calibration_inputs(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int,
                       device: torch.device, amp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """What the calibration is fitted on: the ranking score of every pair ``(N,)`` (the inner product of
    both songs' ranking vectors, what ``songsim similar`` orders the catalog by) and its kind ``(N,)``
    (``core.calibration.pair_groups``: the vector blocks both songs have)."""
    vecs, pos = encode_pair_songs(model, pairs, songs, batch_size, device, amp)
    r = model.rank_space(vecs).cpu().numpy()  # (S', D)
    has = block_presence(r, model.vector_blocks())  # (S', B)
    raw = np.einsum("pd,pd->p", r[pos[pairs.src]], r[pos[pairs.tgt]]).astype(np.float32)
    return raw, pair_groups(has[pos[pairs.src]], has[pos[pairs.tgt]])


@torch.no_grad()
def score_all(model: PairModel, vecs: torch.Tensor, queries: np.ndarray, cands: np.ndarray,
              batch: int = 65536) -> np.ndarray:
    """Exhaustive scores ``(Q, C)`` of query rows against candidate rows of ``vecs`` (``(S, D)``), in
    batches of ``batch`` (query, candidate) pairs built on the fly (memory: one batch, not Q x C indices)."""
    model.eval()
    n, width = len(queries) * len(cands), len(cands)
    out = torch.empty(n)
    for k in range(0, n, batch):
        flat = np.arange(k, min(k + batch, n))
        left = torch.from_numpy(queries[flat // width]).to(vecs.device)
        right = torch.from_numpy(cands[flat % width]).to(vecs.device)
        out[k:k + len(flat)] = model.score(vecs, left, right).float().cpu()
    return out.numpy().reshape(len(queries), len(cands))
