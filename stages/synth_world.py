"""DVC stage `synth_world`:
write the synthetic world (Last.fm zips/db, musiXmatch txt, MSD .h5 tree, GloVe txt, oracle).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/synth_world.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.synth.write import run  # noqa: E402

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
