"""The pipeline's stages, listed once. The ``songsim`` CLI subcommands, the ``stages/<name>.py`` entry
scripts (generated from this table by ``python -m songsim.stage_table --write``, checked by a test) and
their ``--help`` all come from here; ``dvc.yaml`` names the same stages, and a test checks that each
stage's ``deps`` cover exactly the modules its entry script reaches.

Each stage module exposes ``run(params)`` (or ``run(params, model)`` for per-model stages): it takes the
typed params sections it needs from the parsed params mapping and writes its outputs. A generated script
carries its own stage's entry, so editing one stage's entry here changes only that stage's script (and
re-runs only that stage under DVC), not every stage.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from songsim.entry import StageSpec

STAGES: tuple[StageSpec, ...] = (
    StageSpec("synth_world", "synth", "songsim.synth.write",
              "write the synthetic world (Last.fm zips/db, musiXmatch txt, MSD .h5 tree, GloVe txt, oracle)",
              reads=("synth",), writes=("paths.raw_dir",)),
    StageSpec("extract_pairs", "extract-pairs", "songsim.ingest.pairs",
              "Last.fm similars -> deduplicated pairs parquet",
              reads=("raw.lastfm",), writes=("paths.pairs", "paths.reports")),
    StageSpec("expand_lyrics", "expand-lyrics", "songsim.ingest.lyrics",
              "musiXmatch bags of words -> token sequences parquet + vocabulary",
              reads=("raw.mxm",), writes=("paths.lyrics", "paths.vocab", "paths.reports")),
    StageSpec("list_msd", "list-msd", "songsim.ingest.listing",
              "list the MSD tree's .h5 files (path, size, mtime): what chunk_audio depends on, not the tree",
              reads=("raw.msd",), writes=("paths.msd_listing", "paths.reports")),
    StageSpec("chunk_audio", "chunk-audio", "songsim.ingest.audio",
              "MSD HDF5 timbre/chroma -> fixed-size Parquet shards + manifest",
              reads=("paths.msd_listing", "raw.msd"), writes=("paths.audio", "paths.reports")),
    StageSpec("build_splits", "build-splits", "songsim.learn.splits",
              "train/val/test pair splits for the lyrics, multimodal, audio and catalog sets",
              reads=("paths.pairs", "paths.lyrics", "paths.audio"), writes=("paths.splits", "paths.reports")),
    StageSpec("train", "train", "songsim.learn.train",
              "train one model (best + resumable last checkpoint, per-epoch history)",
              reads=("paths.splits", "paths.lyrics", "paths.vocab", "paths.audio", "raw.glove"),
              writes=("paths.models", "paths.metrics", "paths.plots"), per_model=True),
    StageSpec("evaluate", "evaluate", "songsim.judge.evaluate",
              "metrics JSON with baselines and ranking metrics, and plot data, for one trained model",
              reads=("paths.models", "paths.splits", "paths.lyrics", "paths.audio", "raw.oracle",
                     "raw.latent"),
              writes=("paths.metrics", "paths.plots"), per_model=True),
    StageSpec("embed", "embed", "songsim.serve.embed",
              "a vector for every catalog song the model can encode (cold-start songs included)",
              reads=("paths.models", "paths.lyrics", "paths.audio"), writes=("paths.embeddings", "paths.reports"),
              per_model=True),
    StageSpec("fidelity", "fidelity", "songsim.judge.fidelity",
              "compare the world in raw.* with real reference files, statistic by statistic (KS distances)",
              reads=("raw.lastfm", "raw.mxm", "raw.msd", "paths.msd_listing", "fidelity"),
              writes=("paths.metrics", "paths.plots", "paths.reports")),
    StageSpec("index", "index", "songsim.serve.retrieval",
              "an HNSW index over a model's song vectors, for `songsim similar`",
              reads=("paths.embeddings",), writes=("paths.index",), per_model=True),
)
BY_NAME: dict[str, StageSpec] = {s.name: s for s in STAGES} | {s.alias: s for s in STAGES}


def get(name: str) -> StageSpec:
    """The stage called ``name`` (DVC name or CLI alias)."""
    if name not in BY_NAME:
        raise KeyError(f"unknown stage {name!r} (one of {', '.join(s.name for s in STAGES)})")
    return BY_NAME[name]


def entry_script(spec: StageSpec) -> str:
    """Source of ``stages/<name>.py``: it imports the entry helper and the stage's own module only, so
    its static import closure is exactly what the stage runs."""
    body = "".join(f"    {f.name}={getattr(spec, f.name)!r},\n" for f in fields(spec))
    imports = "\n".join(sorted([f"from {spec.module} import run  # noqa: E402",
                                "from songsim.entry import StageSpec, stage_main  # noqa: E402"]))
    return f'''"""DVC stage `{spec.name}`:
{spec.help}.

Generated from songsim.stage_table (python -m songsim.stage_table --write); do not edit by hand.
See `python stages/{spec.name}.py --help`.
"""

import sys
from pathlib import Path

# this checkout's library comes first: a `dvc exp run --temp` or `--queue` copy runs its own code, not the
# code of the checkout that `pip install -e` pointed the environment at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

{imports}

SPEC = StageSpec(
{body})

if __name__ == "__main__":
    sys.exit(stage_main(SPEC, run))
'''


def write_entry_scripts(stages_dir: str | Path) -> list[Path]:
    """(Re)write every ``stages/<name>.py`` from the table; returns the files written."""
    out = []
    for spec in STAGES:
        path = Path(stages_dir) / f"{spec.name}.py"
        path.write_text(entry_script(spec), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":  # pragma: no cover - developer tool
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m songsim.stage_table --write   (run from the repository root)")
    for p in write_entry_scripts("stages"):
        print(p)
