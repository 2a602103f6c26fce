"""DVC stage `embed`:
a vector for every catalog song the model can encode (cold-start songs included).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/embed.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.serve.embed import run

SPEC = StageSpec(
    name='embed',
    alias='embed',
    module='songsim.serve.embed',
    help='a vector for every catalog song the model can encode (cold-start songs included)',
    reads=('paths.models', 'paths.lyrics', 'paths.audio'),
    writes=('paths.embeddings', 'paths.reports'),
    per_model=True,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
