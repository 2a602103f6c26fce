"""Why two songs match: modality terms that add up to the ranking score, shared words from both bags,
audio facets of both songs."""

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from songsim.core.config import read_params
from songsim.serve.explain import key_name, why_text
from songsim.serve.retrieval import Recommender


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
    # the checks below run on these hits: shares shown (every term positive) and shared words found
    assert any(all("share" in m for m in h.why["modalities"].values()) for h in hits)
    assert any(h.why["shared_words"] for h in hits)
    for h in hits:
        mods = h.why["modalities"]
        assert set(mods) == {"lyrics", "audio"}
        assert sum(m["term"] for m in mods.values()) == pytest.approx(h.rank_score, abs=2e-4)
        if all(m["term"] > 0 for m in mods.values()):
            assert all("share" in m for m in mods.values())
            assert sum(m["share"] for m in mods.values()) == pytest.approx(1.0, abs=2e-3)
            for m in mods.values():
                assert m["share"] == pytest.approx(m["term"] / h.rank_score, abs=2e-3)
        elif any(m["term"] < 0 for m in mods.values()):
            assert not any("share" in m for m in mods.values())
        words = h.why["shared_words"]
        assert len(words) <= 5 and [w["weight"] for w in words] == sorted((w["weight"] for w in words), reverse=True)
        for w in words:  # a word both songs use, shown as the word (not the stem) where the map has one
            assert id_of_word[w["word"]] in bags[q] & bags[h.track_id]
        a = h.why["audio"]
        assert -1 <= a["timbre_cosine"] <= 1 and -1 <= a["chroma_cosine"] <= 1 and len(a["keys"]) == 2
        assert why_text(h.why).startswith("lyrics ") or why_text(h.why).startswith("words")
    assert rec.similar(q, k=2)[0].why is None  # only when asked


def test_shares_only_when_every_term_is_positive():
    """Each modality's share of the ranking score, shown only when every term is positive and there are two."""
    from songsim.serve.explain import Explainer

    ex = Explainer(None, None, None)  # no lyrics, no audio: the modality terms alone
    terms = np.array([[0.3, 0.1], [0.4, -0.1], [0.0, 0.2]])
    got = [w["modalities"] for w in ex.explain("TRQ", ["TRA", "TRB", "TRC"], terms, ["lyrics", "audio"])]
    assert got == [{"lyrics": {"term": 0.3, "share": 0.75}, "audio": {"term": 0.1, "share": 0.25}},
                   {"lyrics": {"term": 0.4}, "audio": {"term": -0.1}},
                   {"lyrics": {"term": 0.0}, "audio": {"term": 0.2}}]
    one = ex.explain("TRQ", ["TRA"], np.array([[0.6]]), ["audio"])
    assert one == [{"modalities": {"audio": {"term": 0.6}}}]  # one modality: no share
    assert why_text({"modalities": got[0]}) == "lyrics 75% / audio 25%" and why_text({"modalities": got[1]}) == ""


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
