"""DVC stage `extract_pairs`: Last.fm similars -> deduplicated pairs parquet.

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/extract_pairs.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("extract-pairs"))
