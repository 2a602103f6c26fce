"""Why two songs match: modality terms that add up to the ranking score, shared words from both bags,
audio facets of both songs."""

import json

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
    for h in hits:
        mods = h.why["modalities"]
        assert set(mods) == {"lyrics", "audio"}
        assert sum(m["term"] for m in mods.values()) == pytest.approx(h.rank_score, abs=2e-4)
        if all("share" in m for m in mods.values()):
            assert sum(m["share"] for m in mods.values()) == pytest.approx(1.0, abs=2e-3)
        words = h.why["shared_words"]
        assert len(words) <= 5 and [w["weight"] for w in words] == sorted((w["weight"] for w in words), reverse=True)
        for w in words:  # a word both songs use, shown as the word (not the stem) where the map has one
            assert id_of_word[w["word"]] in bags[q] & bags[h.track_id]
        a = h.why["audio"]
        assert -1 <= a["timbre_cosine"] <= 1 and -1 <= a["chroma_cosine"] <= 1 and len(a["keys"]) == 2
        assert why_text(h.why).startswith("lyrics ") or why_text(h.why).startswith("words")
    assert rec.similar(q, k=2)[0].why is None  # only when asked


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
