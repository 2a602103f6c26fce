"""DVC stage `synth_world`: write the synthetic world (Last.fm zips/db, musiXmatch txt, MSD .h5 tree,
GloVe txt, oracle).

Thin entry point: parses arguments, loads the typed params sections and calls the library
(songsim.pipeline); see `python stages/synth_world.py --help`.
"""

import sys

from songsim.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("synth"))
