"""songsim: content-based song similarity from lyrics and audio."""

__version__ = "0.1.0"
