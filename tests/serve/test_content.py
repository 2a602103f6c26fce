"""Songs asked about by their content: lyrics text, a musiXmatch line, an MSD file; the same answer as by id
for a catalog song's own content; every kind of bad content refused by name."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from songsim.core.config import read_params, section
from songsim.core.stopwords import stopword_ids
from songsim.ingest.readers.mxm import MxmReader, read_reverse_mapping
from songsim.serve.content import (
    MAX_H5_BYTES,
    MAX_LYRICS_BYTES,
    Content,
    ContentError,
    Vocabulary,
    decode_text,
    read_h5,
)
from songsim.serve.recommender import Recommender


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    import pyarrow as pa

    path = tmp_path_factory.mktemp("vocab") / "vocab.parquet"
    words = ["i", "the", "love", "you", "not", "do", "danc", "night", "heart", "cri"]
    pq.write_table(pa.table({"id": pa.array(range(1, len(words) + 1), pa.int16()), "word": words}), path)
    return path


def test_lyrics_text_is_stemmed_counted_and_reported(vocab_path):
    v = Vocabulary(vocab_path)
    bag = v.from_text("I don't love you,\nI'm DANCING all night; dancing—crying! ♪ Zzyzx")
    ids = dict(zip(bag.word_ids, bag.counts))
    assert ids == {1: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2, 8: 1, 10: 1}  # don't -> do + not; dancing -> danc
    assert bag.word_ids == sorted(bag.word_ids)
    r = bag.report
    assert r["words"] == r["in_vocabulary"] + r["not_in_vocabulary"] and r["in_vocabulary"] == 9
    assert set(r["examples_not_in_vocabulary"]) == {"im", "all", "zzyzx"}  # every unmapped word named


@pytest.mark.parametrize("text, kind", [("", "empty_lyrics"), ("♪ ... !!", "empty_lyrics"),
                                         ("zzyzx qwerty", "no_known_words"),
                                         ("love " * (MAX_LYRICS_BYTES // 5 + 1), "too_large")])
def test_unusable_lyrics_are_refused_by_name(vocab_path, text, kind):
    with pytest.raises(ContentError) as e:
        Vocabulary(vocab_path).from_text(text, "song.txt")
    assert e.value.kind == kind and "song.txt" in str(e.value)


def test_text_must_be_utf8_and_bounded():
    assert decode_text("l’amour".encode(), "x") == "l’amour"
    with pytest.raises(ContentError) as e:
        decode_text(b"caf\xe9", "song.txt")
    assert e.value.kind == "not_utf8" and "song.txt" in str(e.value) and "byte 3" in str(e.value)
    with pytest.raises(ContentError) as e:
        decode_text(b"a" * (MAX_LYRICS_BYTES + 1), "big.txt")
    assert e.value.kind == "too_large"


def test_bag_of_words_lines(vocab_path):
    v = Vocabulary(vocab_path)
    full = v.from_bow("TRAAAAV128F421A322,4623710,1:6,3:4,10:1")
    assert (full.word_ids, full.counts, full.report["track_id"]) == ([1, 3, 10], [6, 4, 1], "TRAAAAV128F421A322")
    part = v.from_bow("1:6,3:4")
    assert (part.word_ids, part.counts) == ([1, 3], [6, 4]) and "track_id" not in part.report
    for line, why in [("1:6,11:1", "index_out_of_vocab"), ("3:1,1:2", "unsorted_or_duplicate_index"),
                      ("1:x", "bad_count"), ("nonsense", "malformed_pair"), ("1:1\n2:1", "several")]:
        with pytest.raises(ContentError) as e:
            v.from_bow(line, "--bow")
        assert e.value.kind == "bad_bow" and why in str(e.value), line
    with pytest.raises(ContentError) as e:
        v.from_bow("TRAAAAV128F421A322,4623710")
    assert e.value.kind == "empty_lyrics"


def test_stemming_matches_the_official_stem_map(realdata, tmp_path):
    """The musiXmatch stems come back from their readable words (the official map) for 4,985 of 5,000 (a
    word ending in n't gives its stem and ``not``); the others are mis-encoded punctuation and two stems
    another Porter variant gives (intern, emerg)."""
    import pyarrow as pa

    pairs = [x.rstrip("\n").split("<SEP>") for x in open(realdata / "mxm" / "mxm_reverse_mapping.txt",
                                                          encoding="utf-8") if "<SEP>" in x]
    path = tmp_path / "vocab.parquet"
    pq.write_table(pa.table({"id": pa.array(range(1, len(pairs) + 1), pa.int16()), "word": [s for s, _ in pairs]}),
                   path)
    v = Vocabulary(path)
    same = sum(stem in v.stems(word)[:1] or (stem == "not" and v.stems(word)[-1:] == ["not"]) for stem, word in pairs)
    assert len(pairs) == 5000 and same >= 4985


def test_h5_files_through_every_guard(realdata, base_params, tmp_path):
    cfg = read_params_dict(base_params)
    good = sorted((realdata / "msd_h5_tree").rglob("*.h5"))[0]
    audio = read_h5(good, cfg)
    assert audio.row["track_id"] == good.stem and audio.frames(cfg.frames).shape == (24, cfg.frames)
    assert read_h5(good.read_bytes(), cfg).row["track_id"] == good.stem  # an upload: the same song
    data = good.read_bytes()
    for bad, kind in [(data[: len(data) // 2], "bad_h5"), (b"not hdf5 at all", "bad_h5"), (b"", "bad_h5"),
                      (b"\0" * (MAX_H5_BYTES + 1), "too_large")]:
        with pytest.raises(ContentError) as e:
            read_h5(bad, cfg, "upload.h5")
        assert e.value.kind == kind and "upload.h5" in str(e.value)
    for trap in sorted((realdata / "msd_h5_traps").glob("*.h5")):  # genuine non-MSD HDF5 files
        with pytest.raises(ContentError) as e:
            read_h5(trap, cfg, trap.name)
        assert e.value.kind == "bad_h5"
    link = tmp_path / "link.h5"
    link.symlink_to(tmp_path / "nowhere.h5")
    with pytest.raises(ContentError):
        read_h5(link, cfg)


def read_params_dict(params: dict):
    return section(params, "chunk_audio")


def _raw_content(params: dict, track_ids: list[str]) -> dict[str, tuple[str, object]]:
    """Each song's musiXmatch line (rebuilt from the raw files) and its MSD file."""
    from pathlib import Path

    want, lines = set(track_ids), {}
    for rec in MxmReader(params["raw"]["mxm"]):
        if getattr(rec, "track_id", None) in want:
            lines[rec.track_id] = f"{rec.track_id},{rec.mxm_id}," + ",".join(
                f"{i}:{c}" for i, c in zip(rec.word_ids, rec.counts))
    msd = Path(params["raw"]["msd"])
    return {t: (lines.get(t), msd / t[2] / t[3] / t[4] / f"{t}.h5") for t in track_ids}


@pytest.mark.parametrize("model", ["fused", "lyrics_regressor", "audio_siamese"])
def test_a_catalog_songs_own_content_answers_as_its_id(tiny_run, model):
    path, params = tiny_run
    rec = Recommender.from_params(read_params(path), model)
    vocab = Vocabulary(params["paths"]["vocab"])
    cfg = rec.content_config[1]
    ids = list(rec.ids[:60])
    raw = _raw_content(params, ids)
    overlaps, asked = [], 0
    for tid in ids:
        line, h5 = raw[tid]
        content = Content(vocab.from_bow(line) if line else None, read_h5(h5, cfg) if h5.exists() else None)
        try:
            hits, info = rec.similar_to(content, k=10)
        except ContentError:  # this model reads a modality the song lacks (fused reads either)
            assert model != "fused"
            continue
        asked += 1
        assert info["same_as"] == tid  # its own vector: named, and left out as when asked by id
        want = [h.track_id for h in rec.similar(tid, 10)]
        overlaps.append(len(set(want) & {h.track_id for h in hits}) / len(want))
        if want == [h.track_id for h in hits]:
            assert [h.score for h in hits] == pytest.approx([h.score for h in rec.similar(tid, 10)], abs=1e-4)
    assert asked >= 30 and np.mean(overlaps) >= 0.99


def test_content_the_model_cannot_read_is_refused(tiny_run):
    path, params = tiny_run
    rec = Recommender.from_params(read_params(path), "audio_siamese")
    vocab = Vocabulary(params["paths"]["vocab"])
    with pytest.raises(ContentError) as e:
        rec.similar_to(Content(vocab.from_bow("1:3,2:1"), None))
    assert e.value.kind == "missing_modality" and ".h5" in str(e.value)
    fused = Recommender.from_params(read_params(path), "fused")
    stems = pq.read_table(params["paths"]["vocab"]).column("word").to_pylist()
    stop = set(stopword_ids(stems, read_reverse_mapping(params["raw"]["mxm_reverse_mapping"])).tolist())
    a, b = [i for i in range(1, len(stems) + 1) if i not in stop][:2]  # two content words
    assert {1, 2} <= stop  # function words only: fused reads them apart, as the song's style (stopwords: style)
    hits, _ = fused.similar_to(Content(vocab.from_bow("1:3,2:1"), None), k=3, explain=True)
    assert len(hits) == 3 and all(not h.why.get("shared_words") for h in hits)  # never a function word shown
    hits, info = fused.similar_to(Content(vocab.from_bow(f"{a}:3,{b}:1"), None), k=5, explain=True)
    assert len(hits) == 5 and info["same_as"] is None and info["modalities"] == ["lyrics"]
    assert hits[0].why["modalities"]["audio"] == {"term": 0.0, "missing": "query"}  # a lyrics-only query
    assert [h.rank_score for h in hits] == sorted((h.rank_score for h in hits), reverse=True)


def test_cli_asks_by_lyrics_text_and_h5(tiny_run, tmp_path, capsys):
    from songsim.cli import main

    path, params = tiny_run
    vocab = pq.read_table(params["paths"]["vocab"]).column("word").to_pylist()
    song = tmp_path / "song.txt"
    song.write_text(" ".join(vocab[:40]) + "\nquxbaz\n", encoding="utf-8")
    rec = Recommender.from_params(read_params(path), "fused")
    _, h5 = _raw_content(params, [rec.ids[0]])[rec.ids[0]]
    assert main(["similar", "--lyrics", str(song), "--h5", str(h5), "-k", "3", "--params", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "asked by lyrics and audio on fused" in err and "quxbaz" in err
    assert out.splitlines()[0] == f"songs like {song} + {h5}:" and len(out.splitlines()) == 5
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9")
    assert main(["similar", "--lyrics", str(bad), "--params", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["similar", rec.ids[0], "--h5", str(h5), "--params", str(path)]) == 2
