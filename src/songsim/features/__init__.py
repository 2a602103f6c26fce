"""Ingest stages, one module each: Last.fm pairs (``pairs``), musiXmatch lyrics (``lyrics``), MSD audio
(``audio``), and the audio shard format shared by the audio stage and its readers (``audio_shards``)."""
