"""DVC stage `expand_lyrics`:
musiXmatch bags of words -> token sequences parquet + vocabulary.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/expand_lyrics.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.entry import StageSpec, stage_main  # noqa: E402
from songsim.ingest.lyrics import run  # noqa: E402

SPEC = StageSpec(
    name='expand_lyrics',
    alias='expand-lyrics',
    module='songsim.ingest.lyrics',
    help='musiXmatch bags of words -> token sequences parquet + vocabulary',
    reads=('raw.mxm',),
    writes=('paths.lyrics', 'paths.vocab', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
