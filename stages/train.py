"""DVC stage `train`: train one model (best + resumable last checkpoint, per-epoch history).

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/train.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("train"))
