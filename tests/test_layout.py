"""The layout keeps its promises: no import cycle, models apart from the params layer, stage scripts
generated from the stage table, each stage's dvc.yaml deps = the modules its entry script reaches
(imports inside functions included), and no oversized module without a stated reason."""

import ast
from pathlib import Path

import pytest
import yaml

from songsim.stage_table import STAGES, entry_script
from tests.conftest import ROOT

SRC = ROOT / "src"
PKG = SRC / "songsim"


def module_file(name: str) -> Path | None:
    """The file of module ``songsim.x.y`` (package ``__init__.py`` or ``.py``), or None if not ours."""
    base = SRC.joinpath(*name.split("."))
    for cand in (base / "__init__.py", base.with_suffix(".py")):
        if cand.exists():
            return cand
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every ``songsim`` module a file imports, at any depth (functions included), as a static reader
    sees it; ``from pkg import name`` counts ``pkg.name`` when that is a module."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out.update(n for n in names if n.split(".")[0] == "songsim" and module_file(n) is not None)
    return out


def closure(path: Path) -> set[str]:
    """Modules reached from ``path``, with the package ``__init__`` of every module on the way
    (Python runs them on import)."""
    seen: set[str] = set()
    todo = list(imports_of(path))
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]
        todo += list(imports_of(module_file(m)))
    return seen


def all_modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_no_import_cycle():
    graph = {module_name(p): imports_of(p) - {module_name(p)} for p in all_modules()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


# The layers, bottom up: a module may import its own layer and the ones below it, never one above. The
# phases follow the DAG (ingest -> learn -> serve -> judge); what they share (params, schemas, writers,
# reports, metric functions, checkpoint I/O) lives in ``core`` below them; ``models`` (torch modules and
# their configs) is the floor; ``synth`` writes the world through ``core``'s writers only. The entry-point
# plumbing (``cli``, ``entry``, ``stage_table``) sits on top and nothing under a package imports it.
LAYERS = {
    "models": {"models"},
    "core": {"core", "models"},
    "synth": {"synth", "core"},
    "ingest": {"ingest", "core"},
    "learn": {"learn", "ingest", "core", "models"},
    "serve": {"serve", "learn", "ingest", "core", "models"},
    "judge": {"judge", "serve", "learn", "ingest", "core", "models"},
}
PLUMBING = {"songsim", "songsim.cli", "songsim.entry", "songsim.stage_table"}


def test_top_level_holds_only_packages_and_entry_plumbing():
    top = {p.stem for p in PKG.glob("*.py")}
    assert {f"songsim.{m}" if m != "__init__" else "songsim" for m in top} == PLUMBING
    assert {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_no_import_runs_back_up(layer):
    bad = []
    for p in (PKG / layer).rglob("*.py"):
        for m in imports_of(p):
            if m == "songsim" or m in PLUMBING or m.split(".")[1] not in LAYERS[layer]:
                bad.append(f"{p.relative_to(ROOT)} imports {m}")
    assert not bad, "imports that run back up the layers:\n" + "\n".join(bad)


def test_models_know_nothing_of_the_params_layer():
    for p in (PKG / "models").glob("*.py"):
        reached = closure(p)
        assert "songsim.core.config" not in reached, p


def test_stage_scripts_are_generated_from_the_table():
    assert {p.stem for p in (ROOT / "stages").glob("*.py")} == {s.name for s in STAGES}
    for spec in STAGES:
        assert (ROOT / "stages" / f"{spec.name}.py").read_text() == entry_script(spec), (
            f"stages/{spec.name}.py is stale: run `python -m songsim.stage_table --write`")


def _dvc_stage_bodies():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, st in dvc["stages"].items():
        yield name, (st["do"] if "foreach" in st else st)


def _covered(module_path: str, deps: list[str]) -> bool:
    return any(module_path == d or module_path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_stage_deps_are_exactly_its_import_closure(stage):
    bodies = dict(_dvc_stage_bodies())
    deps = [d for d in bodies[stage]["deps"] if d.startswith(("src/", "stages/"))]
    script = ROOT / "stages" / f"{stage}.py"
    reached = {module_file(m).relative_to(ROOT).as_posix() for m in closure(script)}
    missing = sorted(f for f in reached if not _covered(f, deps))
    assert not missing, f"{stage}: dvc.yaml deps miss modules its script imports: {missing}"
    code_deps = [d for d in deps if d != f"stages/{stage}.py"]
    extra = sorted(d for d in code_deps if not any(f == d or f.startswith(d.rstrip("/") + "/") for f in reached))
    assert not extra, f"{stage}: dvc.yaml deps name code its script never imports: {extra}"
    # a folder dep is only right when the stage reaches every module in it
    for d in code_deps:
        if (ROOT / d).is_dir():
            inside = {p.relative_to(ROOT).as_posix() for p in (ROOT / d).rglob("*.py")}
            assert inside <= reached, f"{stage}: folder dep {d} holds modules the stage never imports: " \
                                      f"{sorted(inside - reached)}"
    assert f"stages/{stage}.py" in deps


def test_closure_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def g():\n    from songsim.ingest.readers.glove import match_glove\n")
    assert "songsim.ingest.readers.glove" in closure(f) and "songsim.ingest.readers" in closure(f)


def test_no_oversized_module_without_a_reason():
    for p in all_modules():
        lines = p.read_text().splitlines()
        if len(lines) > 250:
            head = "\n".join(lines[:15]).lower()
            assert "over 250 lines" in head, f"{p.relative_to(ROOT)}: {len(lines)} lines and no reason at its top"


def test_stage_scripts_run_their_own_checkouts_code(tmp_path):
    """`dvc exp run --temp` / `--queue` run a copy of the repository while the environment's editable
    install points at the original checkout: the copy's stage scripts must import the copy's library."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    entry = tmp_path / "src" / "songsim" / "entry.py"
    entry.write_text(entry.read_text() + "\nprint('songsim from the copy')\n")
    out = subprocess.run([sys.executable, str(tmp_path / "stages" / "synth_world.py"), "--help"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "songsim from the copy" in out.stdout
