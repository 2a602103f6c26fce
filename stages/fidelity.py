"""DVC stage `fidelity`:
compare the world in raw.* with real reference files, statistic by statistic (KS distances).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/fidelity.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.judge.fidelity import run  # noqa: E402

SPEC = StageSpec(
    name='fidelity',
    alias='fidelity',
    module='songsim.judge.fidelity',
    help='compare the world in raw.* with real reference files, statistic by statistic (KS distances)',
    reads=('raw.lastfm', 'raw.mxm', 'raw.msd', 'paths.msd_listing', 'fidelity'),
    writes=('paths.metrics', 'paths.plots', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
