"""DVC stage `chunk_audio`: MSD HDF5 timbre/chroma -> fixed-size Parquet shards + manifest.

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/chunk_audio.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("chunk-audio"))
