"""DVC stage `synth_world`:
write the synthetic world (Last.fm zips/db, musiXmatch txt, MSD .h5 tree, GloVe txt, oracle).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/synth_world.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.synth.write import run

SPEC = StageSpec(
    name='synth_world',
    alias='synth',
    module='songsim.synth.write',
    help='write the synthetic world (Last.fm zips/db, musiXmatch txt, MSD .h5 tree, GloVe txt, oracle)',
    reads=('synth',),
    writes=('paths.raw_dir',),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
