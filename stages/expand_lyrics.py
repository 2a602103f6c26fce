"""DVC stage `expand_lyrics`:
musiXmatch bags of words -> token sequences parquet + vocabulary.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/expand_lyrics.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.ingest.lyrics import run

SPEC = StageSpec(
    name='expand_lyrics',
    alias='expand-lyrics',
    module='songsim.ingest.lyrics',
    help='musiXmatch bags of words -> token sequences parquet + vocabulary',
    reads=('raw.mxm',),
    writes=('paths.lyrics', 'paths.vocab', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
