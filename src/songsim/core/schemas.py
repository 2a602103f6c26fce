"""Arrow schemas of every table the pipeline writes, defined once."""

from __future__ import annotations

import pyarrow as pa

N_FEAT = 12  # timbre and chroma both have 12 coefficients per segment

PAIRS = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("tgt", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # train | test | subset | db | merged
    ]
)

LYRICS = pa.schema(
    [
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("mxm_id", pa.int64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # mxm train | test | db
        pa.field("tokens", pa.list_(pa.int16()), nullable=False),  # 1-based vocab ids, 0 = padding
        pa.field("length", pa.int32(), nullable=False),  # real tokens before padding
        pa.field("word_ids", pa.list_(pa.int16()), nullable=False),  # sparse bag of words: ids ...
        pa.field("counts", pa.list_(pa.int32()), nullable=False),  # ... and their counts
    ]
)

SONGS = pa.schema(  # song metadata from the MSD files, for readable results and artist-level splits
    [
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("artist_id", pa.string()),  # null when the file has none
        pa.field("artist", pa.string()),
        pa.field("title", pa.string()),
        pa.field("year", pa.int16()),  # null when unknown (the MSD stores 0)
    ]
)

VOCAB = pa.schema([pa.field("id", pa.int16(), nullable=False), pa.field("word", pa.string(), nullable=False)])

ORACLE = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("tgt", pa.string(), nullable=False),
        pa.field("oracle", pa.float32(), nullable=False),
    ]
)



def listing_schema(root: str) -> pa.Schema:
    """The listing of a raw file tree (``list_msd``): one row per file, in tree order; ``root`` (the tree it
    lists, as the params name it) rides in the schema's metadata."""
    return pa.schema([
        pa.field("path", pa.string(), nullable=False),  # relative to root ("." when root is the file itself)
        pa.field("size", pa.int64(), nullable=False),  # bytes
        pa.field("mtime_ns", pa.int64(), nullable=False),  # modification time, ns since the epoch
    ], metadata={b"root": root.encode()})


def latent_schema(dim: int) -> pa.Schema:
    """A synthetic world's latent factors per track (``latent.parquet``): the parts each modality is generated
    from, and each part's projection on its score-level direction; what the modality ceilings read."""
    vec = pa.list_(pa.float32(), dim)
    return pa.schema([
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("shared", vec, nullable=False),  # seen by lyrics and audio
        pa.field("lyrics", vec, nullable=False),  # lyrics only
        pa.field("audio", vec, nullable=False),  # audio only
        pa.field("level", pa.list_(pa.float32(), 3), nullable=False),  # (shared, lyrics, audio) . level direction
    ], metadata={b"dim": str(dim).encode()})


SPLIT = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("tgt", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("labelled", pa.bool_(), nullable=False),  # False for sampled negatives
    ]
)


def audio_schema(frames: int, float16: bool) -> pa.Schema:
    """Audio shard schema: timbre and chroma as fixed-size ``frames x 12`` arrays, row-major."""
    value = pa.float16() if float16 else pa.float32()
    mat = pa.list_(value, frames * N_FEAT)
    return pa.schema(
        [
            pa.field("track_id", pa.string(), nullable=False),
            pa.field("timbre", mat, nullable=False),
            pa.field("chroma", mat, nullable=False),
            pa.field("n_segments", pa.int32(), nullable=False),
            pa.field("duration", pa.float32(), nullable=False),
            pa.field("tempo", pa.float32(), nullable=False),
            pa.field("key", pa.int8(), nullable=False),
            pa.field("mode", pa.int8(), nullable=False),
            pa.field("loudness", pa.float32(), nullable=False),
        ],
        metadata={b"frames": str(frames).encode()},
    )


def embedding_schema(dim: int) -> pa.Schema:
    """Song vectors written by ``embed``: one fixed-size float32 vector per track."""
    return pa.schema([pa.field("track_id", pa.string(), nullable=False),
                      pa.field("vector", pa.list_(pa.float32(), dim), nullable=False)],
                     metadata={b"dim": str(dim).encode()})
