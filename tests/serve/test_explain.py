"""Why two songs match: modality terms that add up to the ranking score, shared words from both bags,
audio facets of both songs."""

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from songsim.core.config import read_params
from songsim.serve.explain import key_name, why_text
from songsim.serve.recommender import Recommender


@pytest.fixture(scope="module")
def rec(tiny_run):
    path, _ = tiny_run
    return Recommender.from_params(read_params(path), "fused")


def test_explanations_add_up_and_name_real_shared_words(rec, tiny_run):
    _, params = tiny_run
    q = rec.ids[0]
    hits = rec.similar(q, k=4, explain=True)
    vocab = pq.read_table(params["paths"]["vocab"]).to_pylist()
    t = pq.read_table(params["paths"]["lyrics"], columns=["track_id", "word_ids"],
                      filters=pc.field("track_id").isin([q] + [h.track_id for h in hits]))
    bags = dict(zip(t.column("track_id").to_pylist(), map(set, t.column("word_ids").to_pylist())))
    unstem = {}
    for line in open(params["raw"]["mxm_reverse_mapping"], encoding="utf-8"):
        stem, _, word = line.rstrip("\n").partition("<SEP>")
        unstem[stem] = word
    id_of_word = {unstem.get(v["word"], v["word"]): v["id"] for v in vocab}
    # the checks below run on these hits: percentiles shown and shared words found
    assert any(all("percentile" in m for m in h.why["modalities"].values()) for h in hits)
    assert any(h.why["shared_words"] for h in hits)
    for h in hits:
        mods = h.why["modalities"]
        assert set(mods) == {"lyrics", "audio"}
        assert sum(m["term"] for m in mods.values()) == pytest.approx(h.rank_score, abs=2e-4)
        assert all(0 < m["percentile"] <= 100 for m in mods.values() if "missing" not in m)
        assert h.why["words_by"] == "model"  # the fused model reads a bag: its learned word weights
        words = h.why["shared_words"]
        assert len(words) <= 5 and [w["weight"] for w in words] == sorted((w["weight"] for w in words), reverse=True)
        for w in words:  # a word both songs use, shown as the word (not the stem) where the map has one
            assert id_of_word[w["word"]] in bags[q] & bags[h.track_id]
        a = h.why["audio"]
        assert -1 <= a["timbre_cosine"] <= 1 and -1 <= a["chroma_cosine"] <= 1 and len(a["keys"]) == 2
        assert why_text(h.why).startswith("lyrics ") or why_text(h.why).startswith("words")
    assert rec.similar(q, k=2)[0].why is None  # only when asked


def test_modality_percentiles_among_the_candidates():
    """Each modality's term placed among the query's candidates (100: none closer), and a modality the
    query or a result lacks marked as missing instead."""
    from songsim.serve.explain import Explainer

    ex = Explainer(None, None, None)  # no lyrics, no audio: the modality terms alone
    pool = np.array([[0.3, 0.1], [0.4, -0.1], [0.0, 0.2], [0.1, 0.0]])  # 4 candidates, (lyrics, audio)
    got = [w["modalities"] for w in ex.explain("TRQ", ["TRA", "TRB"], pool[:2], ["lyrics", "audio"], pool)]
    assert got == [{"lyrics": {"term": 0.3, "percentile": 75.0}, "audio": {"term": 0.1, "percentile": 75.0}},
                   {"lyrics": {"term": 0.4, "percentile": 100.0}, "audio": {"term": -0.1, "percentile": 25.0}}]
    assert why_text({"modalities": got[0]}) == "lyrics 75th pct / audio 75th pct"
    lacking = ex.explain("TRQ", ["TRA", "TRB"], pool[:2], ["lyrics", "audio"], pool, {"lyrics": ["TRB"]})
    assert lacking[1]["modalities"]["lyrics"] == {"term": 0.4, "missing": "result"}
    assert why_text(lacking[1]) == "lyrics no lyrics in the result / audio 25th pct"
    one = ex.explain("TRQ", ["TRA"], np.array([[0.6]]), ["audio"])
    assert one == [{"modalities": {"audio": {"term": 0.6, "percentile": 100.0}}}] and why_text(one[0]) == ""


def test_words_weigh_by_the_models_learned_weights(tmp_path):
    """A word the model learned to ignore ranks below one it weighs, however often both songs use it."""
    import pyarrow as pa

    from songsim.serve.explain import Explainer

    vocab, lyrics = tmp_path / "vocab.parquet", tmp_path / "lyrics.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int16()), "word": ["the", "love", "night"]}), vocab)
    pq.write_table(pa.table({"track_id": ["TRQ", "TRA"], "word_ids": [[1, 2, 3], [1, 2, 3]],
                             "counts": [[20, 2, 1], [30, 1, 3]]}), lyrics)
    weights = np.array([[0.0, 0.01, 2.0, 1.0]], dtype=np.float32)  # 1 member; "the" nearly ignored
    learned = Explainer(lyrics, vocab, None, word_weights=(weights, [0.5], 0))
    why = learned.explain("TRQ", ["TRA"], np.array([[0.5]]), ["lyrics"])[0]
    assert [w["word"] for w in why["shared_words"]] == ["love", "night", "the"] and why["words_by"] == "model"
    tfidf = Explainer(lyrics, vocab, None).explain("TRQ", ["TRA"], np.array([[0.5]]), ["lyrics"])[0]
    assert tfidf["shared_words"][0]["word"] == "the" and tfidf["words_by"] == "tfidf"  # raw frequency wins


def test_key_names():
    assert key_name(2, 0) == "D minor" and key_name(9, 1) == "A major" and key_name(-1, 1) == "unknown"


def test_cli_explain_json(tiny_run, capsys):
    from songsim.cli import main

    path, _ = tiny_run
    rec = Recommender.from_params(read_params(path), "audio_siamese", with_catalog=False)
    q = rec.ids[0]
    assert main(["similar", q, "-k", "2", "--model", "audio_siamese", "--format", "json", "--explain",
                 "--params", str(path)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and set(rows[0]["why"]) == {"modalities", "audio"}  # an audio model: no words
    assert main(["similar", q, "-k", "2", "--model", "audio_siamese", "--explain", "--params", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].lstrip().startswith("1 ") and out[3].strip().startswith("why: timbre")
