"""Why two songs match: each modality's part of the ranking score and where it stands among the query's
candidates, the shared words that weigh most under the model, and the audio facets that agree.

- ``modalities``: each modality's term ``w_m cos_m`` of the ranking score (the function that ordered the
  list) and its ``percentile`` among the query's candidates (the songs the index fetched for it; 100: no
  candidate matches the query closer in that modality), so two modalities compare on one scale; a
  modality the query or the song lacks is marked ``missing`` instead;
- ``shared_words``: the words both songs use that carry most of their lyrics match under the model
  (``word_effects``, given by the recommender, which runs the model: how much the pair's lyrics term of
  the ranking score drops when the word leaves both songs; only words whose removal lowers it, by more than
  float rounding (``MIN_EFFECT``), are shown,
  ``words_by``: ``model``), or without a model the product of the two TF-IDF weights (``words_by``:
  ``tfidf``). A model that reads the function words apart (``encoder.stopwords: style``) never shows one
  as a shared word; ``function_words`` is instead their part together: how much more the result's function
  words bring it to the query than those of the list's other songs would (above 0: the two songs' function
  words agree more than the list's usual; given where another result has lyrics).
  Shown as real words through the official stem -> word map when one is given
  (``raw.mxm_reverse_mapping``);
- ``audio``: cosines of the two songs' mean timbre and mean chroma vectors, their keys and modes, and
  their tempi (from the audio shards).

The lyrics table is read per explained song, filtered at read time (and once whole, streamed, for the
TF-IDF document frequencies when the model has no word weights); nothing else is held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songsim.ingest.audio_shards import AudioShards
from songsim.ingest.readers.mxm import read_reverse_mapping

STYLE = "function_words"  # a word effect standing for every function word at once (encoder.stopwords: style)
MIN_EFFECT = 1e-6  # a word's effect at or below this is float32 rounding of the ranking space, not a match
KEYS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def key_name(key: int, mode: int) -> str:
    return "unknown" if key < 0 else f"{KEYS[key % 12]} {'major' if mode == 1 else 'minor'}"


class Explainer:
    """Explanations of (query, result) pairs for one catalog."""

    def __init__(self, lyrics_path: str | Path | None, vocab_path: str | Path | None, audio_dir: str | Path | None,
                 reverse_mapping: str | Path | None = None, top_words: int = 5,
                 word_effects: Callable[[tuple, list], list[dict]] | None = None):
        self.lyrics_path = Path(lyrics_path) if lyrics_path else None
        self.top_words = top_words
        self.words: list[str] = []
        self.idf: np.ndarray | None = None
        self.word_effects = word_effects  # (query bag, result bags) -> per result {word id: effect}
        if self.lyrics_path is not None and vocab_path:
            vocab = pq.read_table(vocab_path, columns=["id", "word"])
            ids, stems = vocab.column("id").to_numpy(), vocab.column("word").to_pylist()
            unstem = read_reverse_mapping(reverse_mapping) if reverse_mapping else {}
            self.words = [""] * (int(ids.max()) + 1)
            for i, s in zip(ids, stems):
                self.words[int(i)] = unstem.get(s, s)
            if word_effects is None:
                self.idf = self._idf()
        self.audio = AudioShards(audio_dir) if audio_dir else None

    @property
    def has_words(self) -> bool:
        return bool(self.words) and (self.idf is not None or self.word_effects is not None)

    def _idf(self) -> np.ndarray:
        df = np.zeros(len(self.words), dtype=np.int64)
        n = 0
        for batch in pq.ParquetFile(self.lyrics_path).iter_batches(columns=["word_ids"]):
            flat = batch.column(0).values.to_numpy(zero_copy_only=False)
            df += np.bincount(flat, minlength=len(df))[:len(df)]
            n += batch.num_rows
        return np.log((1 + n) / (1 + df)) + 1.0

    def _bags(self, ids: list[str], given: dict[str, tuple[list, list]] | None = None
              ) -> dict[str, tuple[list, list]]:
        """Each song's bag (word ids, counts), read from the lyrics table; ``given``: songs not in it, by id."""
        given = given or {}
        t = pq.read_table(self.lyrics_path, columns=["track_id", "word_ids", "counts"],
                          filters=pc.field("track_id").isin([x for x in ids if x not in given]))
        rows = zip(t.column("track_id").to_pylist(), t.column("word_ids").to_pylist(), t.column("counts").to_pylist())
        return {tid: (w, c) for tid, w, c in rows} | dict(given)

    def _shared_words(self, query: str, results: list[str], bags: dict[str, tuple[list, list]]
                      ) -> list[tuple[list, float | None]]:
        """Per result, (weight, word id) of the words it shares with the query, heaviest first, and the
        function words' part (a model that reads them apart; else None)."""
        q = bags.get(query)
        if q is None:
            return [([], None) for _ in results]
        if self.word_effects is not None:
            effects = self.word_effects(q, [bags.get(tid) for tid in results])
            return [(sorted(((x, w) for w, x in eff.items() if x > MIN_EFFECT and w != STYLE), reverse=True),
                     eff.get(STYLE)) for eff in effects]

        def tfidf(bag: tuple[list, list]) -> dict[int, float]:
            w = np.asarray(bag[0], dtype=np.int64)
            v = np.asarray(bag[1], dtype=np.float64) * self.idf[w]
            return dict(zip(w.tolist(), (v / max(np.linalg.norm(v), 1e-12)).tolist()))

        qv = tfidf(q)
        out = []
        for tid in results:
            cv = tfidf(bags[tid]) if tid in bags else {}
            out.append((sorted(((qv[w] * cv[w], w) for w in qv.keys() & cv.keys()), reverse=True), None))
        return out

    def _facets(self, ids: list[str], given: dict[str, tuple[dict, np.ndarray]] | None = None) -> dict[str, dict]:
        """Tempo, key, mode and mean timbre / chroma of songs; ``given``: songs not in the catalog, by id:
        (their shard row, their ``(24, T)`` frames)."""
        given = given or {}
        ids = [x for x in ids if x not in given]
        t = self.audio.read(ids, columns=["track_id", "tempo", "key", "mode"])
        arrays = self.audio.audio(ids).astype(np.float32).mean(axis=2)  # (n, 24): mean timbre then chroma
        meta = {r["track_id"]: r for r in t.to_pylist()}
        out = {tid: {**meta[tid], "timbre": arrays[i, :12], "chroma": arrays[i, 12:]} for i, tid in enumerate(ids)}
        for tid, (row, frames) in given.items():
            mean = frames.astype(np.float32).mean(axis=1)  # (24,)
            out[tid] = {"tempo": row["tempo"], "key": row["key"], "mode": row["mode"], "timbre": mean[:12],
                        "chroma": mean[12:]}
        return out

    def explain(self, query: str, results: list[str], terms: np.ndarray, modalities: list[str],
                pool: np.ndarray | None = None, missing: dict[str, list[str]] | None = None,
                content=None) -> list[dict]:
        """One explanation per result. ``terms`` ``(R, M)``: each modality's term of the ranking score;
        ``pool`` ``(C, M)``: the same for every candidate the query's results were picked from (default:
        the results); ``missing``: modality -> ``"query"`` or the result ids that lack it; ``content``:
        the query's own (``serve.content.Content``) when it is not a catalog song."""
        pool = terms if pool is None else pool
        missing = missing or {}
        use_words = self.has_words and "lyrics" in modalities and "query" not in missing.get("lyrics", ())
        use_audio = self.audio is not None and "audio" in modalities and "query" not in missing.get("audio", ())
        bag = content.bag if content is not None else None
        sound = content.audio if content is not None else None
        bags = self._bags([query, *results], {query: (bag.word_ids, bag.counts)} if bag else None) if use_words else {}
        lacking = set(missing.get("lyrics", ()))
        words = self._shared_words(query, [t for t in results if t not in lacking], bags) if use_words else []
        words_of = dict(zip([t for t in results if t not in lacking], words))
        facets = (self._facets([query, *results], {query: (sound.row, sound.frames(self.audio.frames))}
                               if sound else None) if use_audio else {})
        out = []
        for k, tid in enumerate(results):
            why: dict = {"modalities": {}}
            for j, m in enumerate(modalities):
                lacks = missing.get(m, ())
                entry: dict = {"term": round(float(terms[k, j]), 4)}
                if "query" in lacks or tid in lacks:
                    entry["missing"] = "query" if "query" in lacks else "result"
                else:  # where it stands among the candidates, in this modality alone
                    entry["percentile"] = round(100.0 * float((pool[:, j] <= terms[k, j]).mean()), 1)
                why["modalities"][m] = entry
            if use_words and tid in words_of:
                shown, style = words_of[tid]
                why["shared_words"] = [{"word": self.words[w], "weight": round(float(x), 6)}
                                       for x, w in shown[:self.top_words]]
                if style is not None:  # the model reads the function words apart: their part, against the list's
                    why["function_words"] = round(float(style), 6)
                why["words_by"] = "model" if self.word_effects is not None else "tfidf"
            if use_audio and tid in facets:
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
    if len(mods) > 1 or any("missing" in v for v in mods.values()):
        parts.append(" / ".join(f"no {m} in the {v['missing']}" if "missing" in v else
                                f"{m} {_ordinal(v['percentile'])} pct" for m, v in mods.items()))
    if why.get("shared_words"):
        parts.append("words: " + ", ".join(w["word"] for w in why["shared_words"]))
    if "function_words" in why:
        parts.append(f"function words {_signed(why['function_words'])} vs the list")
    if "audio" in why:
        a = why["audio"]
        key = f"both {a['keys'][0]}" if a["same_key"] else f"{a['keys'][0]} vs {a['keys'][1]}"
        parts.append(f"timbre {a['timbre_cosine']:.2f}, chroma {a['chroma_cosine']:.2f}, key {key}, "
                     f"tempo {a['tempi_bpm'][0]:.0f} vs {a['tempi_bpm'][1]:.0f} bpm")
    return "; ".join(parts)


def _signed(x: float) -> str:
    """``x`` with its sign and 3 decimals, more (up to 6) where 3 would show it as 0."""
    d = 3
    while d < 6 and round(abs(x), d) == 0:
        d += 1
    return f"{x:+.{d}f}"


def _ordinal(p: float) -> str:
    n = int(round(p))
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
