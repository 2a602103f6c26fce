"""DVC stage `index`:
an HNSW index over a model's song vectors, for `songsim similar`.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/index.py --help`.
"""

import sys

from songsim.entry import StageSpec, stage_main
from songsim.serve.retrieval import run

SPEC = StageSpec(
    name='index',
    alias='index',
    module='songsim.serve.retrieval',
    help="an HNSW index over a model's song vectors, for `songsim similar`",
    reads=('paths.embeddings',),
    writes=('paths.index',),
    per_model=True,
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
