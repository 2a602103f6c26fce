"""DVC stage `train`:
train one model (best + resumable last checkpoint, per-epoch history).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/train.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.learn.train import run

SPEC = StageSpec(
    name='train',
    alias='train',
    module='songsim.learn.train',
    help='train one model (best + resumable last checkpoint, per-epoch history)',
    reads=('paths.splits', 'paths.lyrics', 'paths.vocab', 'paths.audio', 'raw.glove'),
    writes=('paths.models', 'paths.metrics', 'paths.plots'),
    per_model=True,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
