"""Write MSD-format HDF5 song files: same groups, datasets, compound dtypes and filters as the real ones."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

# Compound layouts of the real files (fields in alphabetical order, as PyTables stored them).
_IDX_ANALYSIS = [
    "idx_bars_confidence", "idx_bars_start", "idx_beats_confidence", "idx_beats_start",
    "idx_sections_confidence", "idx_sections_start", "idx_segments_confidence",
    "idx_segments_loudness_max", "idx_segments_loudness_max_time", "idx_segments_loudness_start",
    "idx_segments_pitches", "idx_segments_start", "idx_segments_timbre", "idx_tatums_confidence",
    "idx_tatums_start",
]
ANALYSIS_SONGS = np.dtype(
    [("analysis_sample_rate", "<i4"), ("audio_md5", "S32"), ("danceability", "<f8"), ("duration", "<f8"),
     ("end_of_fade_in", "<f8"), ("energy", "<f8")]
    + [(n, "<i4") for n in _IDX_ANALYSIS]
    + [("key", "<i4"), ("key_confidence", "<f8"), ("loudness", "<f8"), ("mode", "<i4"),
       ("mode_confidence", "<f8"), ("start_of_fade_out", "<f8"), ("tempo", "<f8"), ("time_signature", "<i4"),
       ("time_signature_confidence", "<f8"), ("track_id", "S32")]
)
METADATA_SONGS = np.dtype(
    [("analyzer_version", "S32"), ("artist_7digitalid", "<i4"), ("artist_familiarity", "<f8"),
     ("artist_hotttnesss", "<f8"), ("artist_id", "S32"), ("artist_latitude", "<f8"),
     ("artist_location", "S1024"), ("artist_longitude", "<f8"), ("artist_mbid", "S40"),
     ("artist_name", "S1024"), ("artist_playmeid", "<i4"), ("genre", "S1024"), ("idx_artist_terms", "<i4"),
     ("idx_similar_artists", "<i4"), ("release", "S1024"), ("release_7digitalid", "<i4"),
     ("song_hotttnesss", "<f8"), ("song_id", "S32"), ("title", "S1024"), ("track_7digitalid", "<i4")]
)
MUSICBRAINZ_SONGS = np.dtype([("idx_artist_mbtags", "<i4"), ("year", "<i4")])

_FILTERS = {"compression": "gzip", "compression_opts": 1, "shuffle": True}


def _ds(group: h5py.Group, name: str, data: np.ndarray) -> None:
    data = np.asarray(data)
    # empty datasets cannot be chunked with a zero-length chunk; real files store them chunked too
    chunks = (max(1, min(len(data), 1024)),) + data.shape[1:] if data.ndim else None
    group.create_dataset(name, data=data, maxshape=(None,) + data.shape[1:], chunks=chunks, **_FILTERS)


def write_msd_file(path: Path, song: dict) -> None:
    """Write one single-song MSD file. ``song`` holds the arrays and scalar fields (see synth world)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(song["timbre"])
    with h5py.File(path, "w") as f:
        f.attrs["CLASS"] = np.bytes_(b"GROUP")
        f.attrs["FILTERS"] = np.int64(65793)  # PyTables: complevel 1, zlib, shuffle
        f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.0")
        f.attrs["TITLE"] = np.bytes_(b"H5 Song File")
        f.attrs["VERSION"] = np.bytes_(b"1.0")
        an = f.create_group("analysis")
        row = np.zeros(1, dtype=ANALYSIS_SONGS)
        row["analysis_sample_rate"] = 22050
        row["audio_md5"] = song["audio_md5"]
        row["duration"] = song["duration"]
        row["end_of_fade_in"] = song["segments_start"][0]
        row["key"], row["key_confidence"] = song["key"], song["key_confidence"]
        row["loudness"], row["mode"], row["mode_confidence"] = song["loudness"], song["mode"], 0.5
        row["start_of_fade_out"] = song["duration"] - 2.0
        row["tempo"], row["time_signature"], row["time_signature_confidence"] = song["tempo"], 4, 0.8
        row["track_id"] = song["track_id"].encode()
        _ds(an, "songs", row)
        beats = np.arange(0.0, song["duration"], 60.0 / song["tempo"])
        bars = beats[::4]
        sections = np.linspace(0.0, song["duration"], 8, endpoint=False)
        tatums = np.arange(0.0, song["duration"], 30.0 / song["tempo"])
        rng = np.random.default_rng(song["seed"])
        for name, arr in (("bars", bars), ("beats", beats), ("sections", sections), ("tatums", tatums)):
            _ds(an, f"{name}_confidence", rng.uniform(0, 1, len(arr)))
            _ds(an, f"{name}_start", arr)
        _ds(an, "segments_confidence", rng.uniform(0, 1, n))
        _ds(an, "segments_loudness_max", song["seg_loudness"] + 3.0)
        _ds(an, "segments_loudness_max_time", rng.uniform(0, 0.2, n))
        _ds(an, "segments_loudness_start", song["seg_loudness"])
        _ds(an, "segments_pitches", song["chroma"].astype(np.float64))
        _ds(an, "segments_start", song["segments_start"])
        _ds(an, "segments_timbre", song["timbre"].astype(np.float64))

        md = f.create_group("metadata")
        row = np.zeros(1, dtype=METADATA_SONGS)
        row["analyzer_version"] = b""
        row["artist_familiarity"], row["artist_hotttnesss"] = song["familiarity"], song["familiarity"] * 0.7
        row["artist_id"] = song["artist_id"].encode()
        row["artist_latitude"] = row["artist_longitude"] = np.nan
        row["artist_name"] = song["artist_name"].encode("utf-8")
        row["release"] = song["release"].encode("utf-8")
        row["song_hotttnesss"] = np.nan
        row["song_id"] = song["song_id"].encode()
        row["title"] = song["title"].encode("utf-8")
        _ds(md, "songs", row)
        terms = np.array([t.encode() for t in song["terms"]], dtype="S256")
        _ds(md, "artist_terms", terms)
        _ds(md, "artist_terms_freq", np.linspace(1.0, 0.5, len(terms)))
        _ds(md, "artist_terms_weight", np.linspace(1.0, 0.3, len(terms)))
        _ds(md, "similar_artists", np.array([a.encode() for a in song["similar_artists"]], dtype="S20"))

        mb = f.create_group("musicbrainz")
        row = np.zeros(1, dtype=MUSICBRAINZ_SONGS)
        row["year"] = song["year"]
        _ds(mb, "songs", row)
        _ds(mb, "artist_mbtags", np.array([], dtype="S256"))
        _ds(mb, "artist_mbtags_count", np.array([], dtype="<i4"))
