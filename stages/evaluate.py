"""DVC stage `evaluate`: metrics JSON with baselines, and plot data, for one trained model.

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/evaluate.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("evaluate"))
