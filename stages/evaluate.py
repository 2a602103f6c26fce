"""DVC stage `evaluate`:
metrics JSON with baselines and ranking metrics, and plot data, for one trained model.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/evaluate.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.judge.evaluate import run  # noqa: E402

SPEC = StageSpec(
    name='evaluate',
    alias='evaluate',
    module='songsim.judge.evaluate',
    help='metrics JSON with baselines and ranking metrics, and plot data, for one trained model',
    reads=('paths.models', 'paths.splits', 'paths.lyrics', 'paths.audio', 'raw.oracle', 'raw.latent'),
    writes=('paths.metrics', 'paths.plots'),
    per_model=True,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
