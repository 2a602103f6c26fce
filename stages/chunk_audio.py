"""DVC stage `chunk_audio`:
MSD HDF5 timbre/chroma -> fixed-size Parquet shards + manifest.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/chunk_audio.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.ingest.audio import run  # noqa: E402

SPEC = StageSpec(
    name='chunk_audio',
    alias='chunk-audio',
    module='songsim.ingest.audio',
    help='MSD HDF5 timbre/chroma -> fixed-size Parquet shards + manifest',
    reads=('paths.msd_listing', 'raw.msd'),
    writes=('paths.audio', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
