"""DVC stage `extract_pairs`:
Last.fm similars -> deduplicated pairs parquet.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/extract_pairs.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.ingest.pairs import run

SPEC = StageSpec(
    name='extract_pairs',
    alias='extract-pairs',
    module='songsim.ingest.pairs',
    help='Last.fm similars -> deduplicated pairs parquet',
    reads=('raw.lastfm',),
    writes=('paths.pairs', 'paths.reports'),
    per_model=False,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
