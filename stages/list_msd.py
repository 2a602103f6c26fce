"""DVC stage `list_msd`:
list the MSD tree's .h5 files (path, size, mtime): what chunk_audio depends on, not the tree.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/list_msd.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.ingest.listing import run  # noqa: E402

SPEC = StageSpec(
    name='list_msd',
    alias='list-msd',
    module='songsim.ingest.listing',
    help="list the MSD tree's .h5 files (path, size, mtime): what chunk_audio depends on, not the tree",
    reads=('raw.msd',),
    writes=('paths.msd_listing', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
