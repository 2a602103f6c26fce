"""DVC stage `embed`:
a vector for every catalog song the model can encode (cold-start songs included).

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/embed.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.serve.embed import run  # noqa: E402

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
