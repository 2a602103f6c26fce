"""DVC stage `build_splits`:
train/val/test pair splits for the lyrics, multimodal, audio and catalog sets.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/build_splits.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.learn.splits import run  # noqa: E402

SPEC = StageSpec(
    name='build_splits',
    alias='build-splits',
    module='songsim.learn.splits',
    help='train/val/test pair splits for the lyrics, multimodal, audio and catalog sets',
    reads=('paths.pairs', 'paths.lyrics', 'paths.audio'),
    writes=('paths.splits', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
