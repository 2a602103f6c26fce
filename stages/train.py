"""DVC stage `train`:
train one model (best + resumable last checkpoint, per-epoch history).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/train.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.learn.train import run  # noqa: E402

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
