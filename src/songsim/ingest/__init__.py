"""Ingest: one reader per source format (``readers/``) and the three ingest stages (``extract_pairs``,
``expand_lyrics``, ``chunk_audio``) with the audio shard format they write."""
