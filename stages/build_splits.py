"""DVC stage `build_splits`: train/val/test pair splits for the lyrics and multimodal sets.

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/build_splits.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("build-splits"))
