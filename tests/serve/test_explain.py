"""Why two songs match: modality terms that add up to the ranking score, shared words from both bags,
audio facets of both songs."""

import json
from unittest import mock

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from songsim.core.config import read_params
from songsim.serve.encoding import style_words
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
        if "missing" not in mods["lyrics"]:  # a result without lyrics shares no words with the query
            assert h.why["words_by"] == "model"  # the fused model reads a bag: its learned word weights
            words = h.why["shared_words"]
            assert len(words) <= 5 and [w["weight"] for w in words] == sorted((w["weight"] for w in words),
                                                                               reverse=True)
            for w in words:  # a word both songs use, shown as the word (not the stem) where the map has one
                assert id_of_word[w["word"]] in bags[q] & bags[h.track_id]
            assert why_text(h.why).startswith("lyrics ") or why_text(h.why).startswith("words")
        if "missing" not in mods["audio"]:
            a = h.why["audio"]
            assert -1 <= a["timbre_cosine"] <= 1 and -1 <= a["chroma_cosine"] <= 1 and len(a["keys"]) == 2
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
    assert why_text(lacking[1]) == "no lyrics in the result / audio 25th pct"
    one = ex.explain("TRQ", ["TRA"], np.array([[0.6]]), ["audio"])
    assert one == [{"modalities": {"audio": {"term": 0.6, "percentile": 100.0}}}] and why_text(one[0]) == ""


def test_words_are_those_the_model_says_carry_the_match(tmp_path):
    """With the model's word effects, a frequent word that carries nothing is not shown, and the words come
    heaviest first; without them, TF-IDF (raw frequency) puts the frequent word first."""
    import pyarrow as pa

    from songsim.serve.explain import Explainer

    vocab, lyrics = tmp_path / "vocab.parquet", tmp_path / "lyrics.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3, 4], pa.int16()), "word": ["the", "love", "night", "of"]}),
                   vocab)
    pq.write_table(pa.table({"track_id": ["TRQ", "TRA"], "word_ids": [[1, 2, 3], [1, 2, 3]],
                             "counts": [[20, 2, 1], [30, 1, 3]]}), lyrics)
    asked = []

    def effects(query, results):  # what the recommender computes with the model (the drop in the lyrics term)
        asked.append((query, results))
        return [{1: -0.01, 2: 0.2, 3: 0.05, 4: 4e-8}]  # word 4: float rounding of a word weighing 0, not shown

    why = Explainer(lyrics, vocab, None, word_effects=effects).explain("TRQ", ["TRA"], np.array([[0.5]]), ["lyrics"])[0]
    assert [w["word"] for w in why["shared_words"]] == ["love", "night"] and why["words_by"] == "model"
    assert asked == [(([1, 2, 3], [20, 2, 1]), [([1, 2, 3], [30, 1, 3])])]
    tfidf = Explainer(lyrics, vocab, None).explain("TRQ", ["TRA"], np.array([[0.5]]), ["lyrics"])[0]
    assert tfidf["shared_words"][0]["word"] == "the" and tfidf["words_by"] == "tfidf"


def test_word_effects_are_the_drop_in_the_lyrics_term(rec, tiny_run):
    """A shown word's weight is what removing it from both songs takes from their lyrics term, as the
    model encodes the two bags with and without it."""
    _, params = tiny_run
    q = rec.ids[0]
    hit = next(h for h in rec.similar(q, k=5, explain=True) if h.why.get("shared_words"))
    t = pq.read_table(params["paths"]["lyrics"], columns=["track_id", "word_ids", "counts"],
                      filters=pc.field("track_id").isin([q, hit.track_id])).to_pylist()
    bags = {r["track_id"]: (r["word_ids"], r["counts"]) for r in t}
    effects = rec._word_effects(bags[q], [bags[hit.track_id]])[0]
    shown = hit.why["shared_words"]
    best = max(effects.values())
    assert shown[0]["weight"] == pytest.approx(best, abs=1e-6) and all(w["weight"] > 0 for w in shown)
    style = style_words(rec.model)  # the function words of a model that reads them apart: never a shared word
    shared = set(bags[q][0]) & set(bags[hit.track_id][0])
    assert set(effects) == shared - set(() if style is None else style.tolist())  # one result: no list to compare
    lyr = rec._modality_columns("lyrics")  # the drop is measured against the pair's own lyrics term
    row = rec.ids.row
    pair = rec.index.reconstruct(row(q))[lyr] @ rec.index.reconstruct(row(hit.track_id))[lyr]
    assert hit.why["modalities"]["lyrics"]["term"] == pytest.approx(pair, abs=2e-4)


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


def _bag_model(stopwords: str):
    """A tiny lyrics regressor with a bag encoder, words 1 and 4 its function words, and the expand / chunk
    configs its bags are read with."""
    import torch

    from songsim.core.config import ChunkAudioConfig, ExpandLyricsConfig
    from songsim.learn.setup import fit_word_prior
    from songsim.models import registry
    from songsim.models.configs import LyricsEncoderConfig, LyricsRegressorConfig
    from songsim.models.nets import build_model

    torch.manual_seed(0)
    enc = LyricsEncoderConfig(embedding_dim=8, dropout=0.0, kind="bag", bag_dim=6, input="counts", bag_words=8,
                              stopwords=stopwords)
    model = build_model("lyrics_regressor", LyricsRegressorConfig(encoder=enc, dense=(8,), dropout=0.0), 6).eval()
    spec = registry.get("lyrics_regressor")
    fit_word_prior(spec, model, None, np.arange(0), np.array([1, 4]))
    config = (ExpandLyricsConfig(max_len=100, word_order="vocab", seed=0, max_quarantine_frac=0.01),
              ChunkAudioConfig(frames=8, crop="center", pad="zero", float16=True, rows_per_shard=10, workers=1,
                               max_quarantine_frac=0.01))
    return model, spec, config


def test_a_model_reading_function_words_apart_shows_them_as_one_part(tmp_path):
    """``encoder.stopwords: style``: no function word is shown as a shared word; their part is its own
    entry: the pair's lyrics term less its mean over the result given each other result's function words."""
    import pyarrow as pa
    import torch

    from songsim.serve.encoding import Bag, bags_table, word_effects
    from songsim.serve.explain import Explainer
    from songsim.serve.retrieval import ranking_space

    model, spec, config = _bag_model("style")  # words 1 and 4: function words
    query, result = ([1, 2, 3, 4], [5, 1, 2, 3]), ([1, 2, 4, 5], [2, 2, 1, 1])
    plain, wordy, only = ([2, 5], [1, 1]), ([1, 5], [4, 1]), ([4], [3])  # no function word; 1 four times; 4 alone
    results = [result, None, plain, wordy, only]
    effects = word_effects(model, spec, [6], [1.0], np.arange(6), config, query, results)
    assert set(effects[0]) == {2, "function_words"}  # word 2 the only other shared word; 1 and 4 as one part
    assert effects[1] == {}  # a result without lyrics: nothing to share, nothing to compare
    assert set(effects[2]) == {2, "function_words"} and set(effects[3]) == set(effects[4]) == {"function_words"}

    def lyrics_term(a: Bag, b: Bag) -> float:
        from songsim.learn.inference import encode_songs

        vecs = encode_songs(model, bags_table([a, b], spec, 8, *config), np.arange(2), 2, torch.device("cpu"))
        space = ranking_space(vecs.numpy(), [6], [1.0])
        return float(space[0] @ space[1])

    def swapped(bag, peer) -> Bag:  # bag's content words, peer's function words
        words = sorted([(w, c) for w, c in zip(*bag) if w not in (1, 4)]
                       + [(w, c) for w, c in zip(*peer) if w in (1, 4)])
        return Bag([w for w, _ in words], [c for _, c in words]) if words else Bag([0], [1])

    q = Bag(*query)
    for i, bag in enumerate(results):  # every result, after a result without lyrics and without shared words
        if bag is None:
            continue
        peers = [lyrics_term(q, swapped(bag, p)) for j, p in enumerate(results) if j != i and p is not None]
        assert len(peers) == 3
        assert effects[i]["function_words"] == pytest.approx(lyrics_term(q, Bag(*bag)) - np.mean(peers), abs=1e-5)
    assert effects[2][2] == pytest.approx(lyrics_term(q, Bag(*plain)) - lyrics_term(Bag([1, 3, 4], [5, 2, 3]),
                                                                                      Bag([5], [1])), abs=1e-5)
    with mock.patch("songsim.serve.encoding.STYLE_PEERS", 1):  # the nearest other result alone
        first = word_effects(model, spec, [6], [1.0], np.arange(6), config, query, results)
    assert first[0]["function_words"] == pytest.approx(
        lyrics_term(q, Bag(*result)) - lyrics_term(q, swapped(result, plain)), abs=1e-5)
    assert first[2]["function_words"] == pytest.approx(
        lyrics_term(q, Bag(*plain)) - lyrics_term(q, swapped(plain, result)), abs=1e-5)
    alone = word_effects(model, spec, [6], [1.0], np.arange(6), config, query, [result])[0]
    assert set(alone) == {2}  # no other result to compare its function words with: no part given
    english = _bag_model("english")[0]
    assert "function_words" not in word_effects(english, spec, [6], [1.0], np.arange(6), config, query,
                                                [result, plain])[0]

    vocab, lyrics = tmp_path / "vocab.parquet", tmp_path / "lyrics.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int16()), "word": ["the", "love", "night"]}), vocab)
    pq.write_table(pa.table({"track_id": ["TRQ", "TRA"], "word_ids": [[1, 2, 3], [1, 2, 3]],
                             "counts": [[20, 2, 1], [30, 1, 3]]}), lyrics)
    why = Explainer(lyrics, vocab, None, word_effects=lambda q, rs: [{2: 0.2, 3: 0.05, "function_words": 0.012}]
                    ).explain("TRQ", ["TRA"], np.array([[0.5]]), ["lyrics"])[0]
    assert [w["word"] for w in why["shared_words"]] == ["love", "night"] and why["function_words"] == 0.012
    assert why_text(why) == "words: love, night; function words +0.012 vs the list"
    small = {"modalities": {"lyrics": {"term": 0.5, "percentile": 90.0}}, "function_words": -0.00021}
    assert why_text(small) == "function words -0.0002 vs the list"  # more decimals, never "-0.000"


def test_lyrics_of_function_words_alone_are_read_by_a_style_model():
    """``encoder.stopwords: style`` reads the function words, so lyrics made of them alone have a vector
    (its style); with ``english`` they are refused, as nothing of them is read."""
    from songsim.serve.content import Bag, Content, ContentError
    from songsim.serve.encoding import encode_content

    only_function_words = Content(Bag([1, 4], [3, 1]), None)
    for kind in ("style", "english"):
        model, spec, (expand, chunk) = _bag_model(kind)
        if kind == "style":
            vec = encode_content(model, spec, only_function_words, expand, chunk)
            plain = encode_content(model, spec, Content(Bag([2], [1]), None), expand, chunk)
            assert vec.shape == (6,) and np.isfinite(vec).all() and not np.allclose(vec, plain)
        else:
            with pytest.raises(ContentError, match="leaves out"):
                encode_content(model, spec, only_function_words, expand, chunk)
