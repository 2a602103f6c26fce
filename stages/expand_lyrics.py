"""DVC stage `expand_lyrics`: musiXmatch bags of words -> token sequences parquet + vocabulary.

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/expand_lyrics.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("expand-lyrics"))
