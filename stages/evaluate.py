"""DVC stage `evaluate`:
metrics JSON with baselines and ranking metrics, and plot data, for one trained model.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/evaluate.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.judge.evaluate import run

SPEC = StageSpec(
    name='evaluate',
    alias='evaluate',
    module='songsim.judge.evaluate',
    help='metrics JSON with baselines and ranking metrics, and plot data, for one trained model',
    reads=('paths.models', 'paths.splits', 'paths.lyrics', 'paths.audio', 'raw.oracle'),
    writes=('paths.metrics', 'paths.plots'),
    per_model=True,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
