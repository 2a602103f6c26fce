"""DVC stage `fidelity`:
compare the world in raw.* with real reference files, statistic by statistic (KS distances).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/fidelity.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.judge.fidelity import run

SPEC = StageSpec(
    name='fidelity',
    alias='fidelity',
    module='songsim.judge.fidelity',
    help='compare the world in raw.* with real reference files, statistic by statistic (KS distances)',
    reads=('raw.lastfm', 'raw.mxm', 'raw.msd', 'fidelity'),
    writes=('paths.metrics', 'paths.plots', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
