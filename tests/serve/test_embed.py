"""Stage embed: every catalog song the model can encode (cold-start songs too), counted, deterministic."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from songsim.ingest.audio_shards import AudioShards
from songsim.learn.data import split_track_ids
from songsim.serve.embed import embed


def _vectors(folder):
    man = json.loads((folder / "manifest.json").read_text())
    t = pa.concat_tables([pq.read_table(folder / s["file"]) for s in man["shards"]])
    return man, t.column("track_id").to_pylist(), np.stack(t.column("vector").to_numpy(zero_copy_only=False))


def test_catalog_coverage_and_counts(tiny_run):
    _, params = tiny_run
    p = params["paths"]
    lyrics = set(pq.read_table(p["lyrics"], columns=["track_id"]).column(0).to_pylist())
    audio = AudioShards(p["audio"]).track_ids()
    # fused stands in for a missing modality: every song with either
    expect = {"lyrics_regressor": lyrics, "audio_siamese": audio, "fused": lyrics | audio}
    trained = split_track_ids(f"{p['splits']}/catalog/train.parquet")
    for name, want in expect.items():
        man, ids, vecs = _vectors(Path(p["embeddings"]) / name)
        assert set(ids) == want and len(ids) == len(set(ids)) == man["count"]
        assert vecs.shape == (len(ids), man["dim"]) and np.isfinite(vecs).all()
        rep = json.loads(open(f"{p['reports']}/embed_{name}.json").read())
        assert rep["read"] == rep["kept"] + rep["dropped"] == len(lyrics | audio)  # the whole catalog, reconciled
        assert rep["kept"] == len(want)
        if name == "fused":
            assert (rep["lyrics_only"], rep["audio_only"]) == (len(lyrics - audio), len(audio - lyrics)) != (0, 0)
    # cold start: songs in no training pair get vectors too (in a real-like world nearly every song is listed)
    assert (lyrics | audio) - trained


def test_embeddings_are_deterministic_on_cpu(tiny_run, tmp_path):
    _, params = tiny_run
    p = params["paths"]
    for run in ("a", "b"):
        embed("fused", f"{p['models']}/fused.pt", p["lyrics"], p["audio"], tmp_path / run, 7, "cpu", False)
    _, ids_a, va = _vectors(tmp_path / "a")
    _, ids_b, vb = _vectors(tmp_path / "b")
    _, ids_c, vc = _vectors(Path(p["embeddings"]) / "fused")  # other batch size
    assert ids_a == ids_b == ids_c and np.array_equal(va, vb)
    np.testing.assert_allclose(va, vc, atol=1e-5)
