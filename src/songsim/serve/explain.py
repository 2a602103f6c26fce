"""Why two songs match: the ranking score split by modality, the shared words that weigh most, and the
audio facets that agree.

- ``modalities``: each modality's term ``w_m cos_m`` of the ranking score (the function that ordered the
  list), and its share of their sum (the shares are left out when a term is negative);
- ``shared_words``: the words both songs use that contribute most to their TF-IDF cosine (the product of
  the two TF-IDF weights, document frequencies over the whole lyrics catalog), shown as real words
  through the official stem -> word map when one is given (``raw.mxm_reverse_mapping``), else as stems;
- ``audio``: cosines of the two songs' mean timbre and mean chroma vectors, their keys and modes, and
  their tempi (from the audio shards).

The lyrics table is read once for the document frequencies (the ``word_ids`` column, streamed) and then
per explained song, filtered at read time; nothing else is held in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songsim.ingest.audio_shards import AudioShards
from songsim.ingest.readers.mxm import read_reverse_mapping

KEYS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def key_name(key: int, mode: int) -> str:
    return "unknown" if key < 0 else f"{KEYS[key % 12]} {'major' if mode == 1 else 'minor'}"


class Explainer:
    """Explanations of (query, result) pairs for one catalog."""

    def __init__(self, lyrics_path: str | Path | None, vocab_path: str | Path | None, audio_dir: str | Path | None,
                 reverse_mapping: str | Path | None = None, top_words: int = 5):
        self.lyrics_path = Path(lyrics_path) if lyrics_path else None
        self.top_words = top_words
        self.words: list[str] = []
        self.idf: np.ndarray | None = None
        if self.lyrics_path is not None and vocab_path:
            vocab = pq.read_table(vocab_path, columns=["id", "word"])
            ids, stems = vocab.column("id").to_numpy(), vocab.column("word").to_pylist()
            unstem = read_reverse_mapping(reverse_mapping) if reverse_mapping else {}
            self.words = [""] * (int(ids.max()) + 1)
            for i, s in zip(ids, stems):
                self.words[int(i)] = unstem.get(s, s)
            df = np.zeros(len(self.words), dtype=np.int64)
            n = 0
            for batch in pq.ParquetFile(self.lyrics_path).iter_batches(columns=["word_ids"]):
                flat = batch.column(0).values.to_numpy(zero_copy_only=False)
                df += np.bincount(flat, minlength=len(df))[:len(df)]
                n += batch.num_rows
            self.idf = np.log((1 + n) / (1 + df)) + 1.0
        self.audio = AudioShards(audio_dir) if audio_dir else None

    def _bags(self, ids: list[str]) -> dict[str, dict[int, float]]:
        """TF-IDF weights (L2-normalised) of the songs' bags of words, by track id."""
        t = pq.read_table(self.lyrics_path, columns=["track_id", "word_ids", "counts"],
                          filters=pc.field("track_id").isin(ids))
        out = {}
        for tid, w, c in zip(t.column("track_id").to_pylist(), t.column("word_ids").to_pylist(),
                             t.column("counts").to_pylist()):
            v = np.asarray(c, dtype=np.float64) * self.idf[np.asarray(w, dtype=np.int64)]
            v /= max(np.linalg.norm(v), 1e-12)
            out[tid] = dict(zip(w, v))
        return out

    def _facets(self, ids: list[str]) -> dict[str, dict]:
        t = self.audio.read(ids, columns=["track_id", "tempo", "key", "mode"])
        arrays = self.audio.audio(ids).astype(np.float32).mean(axis=2)  # (n, 24): mean timbre then chroma
        meta = {r["track_id"]: r for r in t.to_pylist()}
        return {tid: {**meta[tid], "timbre": arrays[i, :12], "chroma": arrays[i, 12:]} for i, tid in enumerate(ids)}

    def explain(self, query: str, results: list[str], terms: np.ndarray, modalities: list[str]) -> list[dict]:
        """One explanation per result. ``terms`` ``(R, M)``: each modality's term of the ranking score."""
        use_words = self.idf is not None and "lyrics" in modalities
        use_audio = self.audio is not None and "audio" in modalities
        bags = self._bags([query, *results]) if use_words else {}
        facets = self._facets([query, *results]) if use_audio else {}
        out = []
        for k, tid in enumerate(results):
            row = terms[k]
            why: dict = {"modalities": {m: {"term": round(float(x), 4)} for m, x in zip(modalities, row)}}
            if len(modalities) > 1 and (row > 0).all():
                for m, x in zip(modalities, row):
                    why["modalities"][m]["share"] = round(float(x / row.sum()), 3)
            if use_words:
                q, c = bags.get(query, {}), bags.get(tid, {})
                shared = sorted(((q[w] * c[w], w) for w in q.keys() & c.keys()), reverse=True)[:self.top_words]
                why["shared_words"] = [{"word": self.words[w], "weight": round(float(x), 4)} for x, w in shared]
            if use_audio:
                a, b = facets[query], facets[tid]
                why["audio"] = {"timbre_cosine": round(_cos(a["timbre"], b["timbre"]), 3),
                                "chroma_cosine": round(_cos(a["chroma"], b["chroma"]), 3),
                                "keys": [key_name(a["key"], a["mode"]), key_name(b["key"], b["mode"])],
                                "same_key": a["key"] == b["key"] and a["mode"] == b["mode"],
                                "tempi_bpm": [round(a["tempo"], 1), round(b["tempo"], 1)]}
            out.append(why)
        return out


def why_text(why: dict) -> str:
    """One line of an explanation, for the table output."""
    parts = []
    mods = why["modalities"]
    if all("share" in v for v in mods.values()) and len(mods) > 1:
        parts.append(" / ".join(f"{m} {100 * v['share']:.0f}%" for m, v in mods.items()))
    if why.get("shared_words"):
        parts.append("words: " + ", ".join(w["word"] for w in why["shared_words"]))
    if "audio" in why:
        a = why["audio"]
        key = f"both {a['keys'][0]}" if a["same_key"] else f"{a['keys'][0]} vs {a['keys'][1]}"
        parts.append(f"timbre {a['timbre_cosine']:.2f}, chroma {a['chroma_cosine']:.2f}, key {key}, "
                     f"tempo {a['tempi_bpm'][0]:.0f} vs {a['tempi_bpm'][1]:.0f} bpm")
    return "; ".join(parts)
