"""The generated blocks of README.md and docs/*.md (results tables, code map, params reference) come from
their sources (scripts/results_table.py, scripts/doc_blocks.py): this fails when a file and its sources
disagree."""

import importlib.util
import json
import re

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
results_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results_table)


@pytest.fixture(scope="module")
def generated():
    return results_table.blocks(ROOT / "data" / "reports")


def docs_text() -> str:
    return "\n".join(f.read_text() for f in results_table.doc_files())


def test_generated_blocks_match_their_sources(generated):
    stale = results_table.stale_blocks(docs_text(), generated)
    assert not stale, f"blocks out of date: {stale}; run python scripts/results_table.py --write"


def test_every_generated_block_sits_in_exactly_one_file(generated):
    texts = {f: f.read_text() for f in results_table.doc_files()}
    for name in generated:
        holders = [f for f, t in texts.items() if f"<!-- results:{name} -->" in t]
        assert len(holders) == 1, (name, [f.name for f in holders])
        assert f"<!-- /results:{name} -->" in texts[holders[0]], name
    with pytest.raises(SystemExit, match="more than one place"):
        twice = {ROOT / "a.md": "<!-- results:main -->\n<!-- /results:main -->",
                 ROOT / "b.md": "<!-- results:main -->\n<!-- /results:main -->"}
        results_table.render_files(twice, generated)


def test_a_changed_report_makes_the_readme_stale(tmp_path, generated):
    for f in (ROOT / "data" / "reports").glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    rep = json.loads((tmp_path / "evaluate_fused.json").read_text())
    rep["test"]["mae"] += 0.01
    rep["test_multimodal"]["mae"] += 0.01  # what the claims compare: the same pairs for the three regressors
    (tmp_path / "evaluate_fused.json").write_text(json.dumps(rep))
    changed = results_table.blocks(tmp_path)
    stale = set(results_table.stale_blocks(docs_text(), changed))
    assert {"main", "claims"} <= stale
    # the one-change experiments are set beside the commit they ran from, not beside today's defaults
    assert not {"seeds", "splits", "threads", "encoders", "ablation"} & stale


def test_experiments_from_two_commits_are_refused():
    a, b = results_table.load_experiment("seed1"), results_table.load_experiment("seed2")
    with pytest.raises(SystemExit, match="come from 2 commits"):
        results_table.baseline_of([a, b | {"baseline": "0" * 40}])


def test_render_refuses_docs_without_the_blocks(generated):
    with pytest.raises(SystemExit, match="lacks the generated blocks"):
        results_table.render("# no blocks here\n", generated)
    with pytest.raises(SystemExit, match="lack the generated blocks"):
        results_table.render_files({ROOT / "x.md": "# no blocks here\n"}, generated)


def test_reader_table_counts_a_world_reached_by_either_lyrics_reader():
    def world(bag, glove=None):
        lyr = {"reader_vs_median_pct": bag, "ceiling_vs_median_pct": -30.0}
        if glove is not None:
            lyr["reader_glove_vs_median_pct"] = glove
        return {"models": {}, "lyrics_regressor": lyr,
                "audio_siamese": {"reader_vs_median_pct": -20.0, "ceiling_vs_median_pct": -24.0}}

    both = results_table.reader_table({"worlds": {"1": world(-22.0, -26.0), "2": world(-23.0, -24.0)}})
    assert "reader (bag, GloVe)" in both and "-22.0, -26.0" in both
    assert "reached by a reader on 1 of 2 worlds (lyrics_regressor), 0 of 2 worlds (audio_siamese)" in both
    assert "by the ceiling on 2 of 2 (lyrics_regressor), 0 of 2 (audio_siamese)" in both
    bag_only = results_table.reader_table({"worlds": {"1": world(-26.0)}})
    assert "(bag, GloVe)" not in bag_only and "reached by a reader on 1 of 1 worlds (lyrics_regressor)" in bag_only
    assert "classifier" not in bag_only


def test_reader_table_shows_both_estimates_of_the_classifier_ceiling():
    row = {"models": {}, "lyrics_regressor": {"reader_vs_median_pct": -26.0, "ceiling_vs_median_pct": -30.0},
           "audio_siamese": {"reader_vs_median_pct": -26.0, "ceiling_vs_median_pct": -30.0}}
    worlds = {"1": {**row, "lyrics_classifier": {"ceiling_evaluation_over_majority_points": 9.9,
                                                 "ceiling_harder_over_majority_points": 10.6}},
              "2": {**row, "lyrics_classifier": {"ceiling_evaluation_over_majority_points": 12.0,
                                                 "ceiling_harder_over_majority_points": 12.5}}}
    table = results_table.reader_table({"worlds": worlds})
    assert "| +9.9 / +10.6 |" in table
    assert "reaches +10 on 1 of 2 worlds as the evaluation estimates it, 2 of 2 fitted harder" in table


def test_reader_table_adds_the_word_model_readers_and_the_classifier_runs():
    lyr = {"reader_vs_median_pct": -22.0, "reader_glove_vs_median_pct": -23.0,
           "reader_likelihood_vs_median_pct": -25.5, "ceiling_vs_median_pct": -30.0}
    clf = {"ceiling_evaluation_over_majority_points": 11.0, "ceiling_harder_over_majority_points": 11.5,
           "reader_likelihood_over_majority_points": 8.0}
    runs = {"rob-w1-s0": {"lyrics_regressor": -24.0, "audio_siamese": -26.0, "lyrics_classifier": 7.5}}
    world = {"models": runs, "lyrics_regressor": lyr, "lyrics_classifier": clf,
             "audio_siamese": {"reader_vs_median_pct": -26.0, "ceiling_vs_median_pct": -30.0}}
    table = results_table.reader_table({"worlds": {"1": world}})
    assert "reader (bag, GloVe, word model)" in table and "-24.0 / -22.0, -23.0, -25.5 / -30.0" in table
    assert "reached by a reader on 1 of 1 worlds (lyrics_regressor)" in table  # the word model's reader
    assert "lyrics_classifier: runs / reader (word model) / ceiling" in table
    assert "| +7.5 / +8.0 / +11.0, +11.5 |" in table
    assert "the reader of the word model on 0 of 1" in table


@pytest.mark.parametrize("abbrev", ["7", "12"])
def test_provenance_does_not_depend_on_the_clones_hash_length(monkeypatch, abbrev):
    """git's short hash grows with a clone's object count: a CI clone printed 7 digits where ours printed 8."""
    reports = ROOT / "data" / "reports"
    expected = results_table.main_provenance(reports)
    assert re.search(r"commit `[0-9a-f]{7}` \(\d{4}-\d\d-\d\d\)", expected), expected  # a git checkout
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.abbrev")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", abbrev)
    assert results_table.main_provenance(reports) == expected


def test_reader_share_counts_runs_against_the_best_reader_of_their_world():
    lyr = {"reader_vs_median_pct": -20.0, "reader_likelihood_vs_median_pct": -30.0, "ceiling_vs_median_pct": -35.0}
    clf = {"ceiling_evaluation_over_majority_points": 11.0, "ceiling_harder_over_majority_points": 11.5,
           "reader_likelihood_over_majority_points": 10.0}
    runs = {"a-w1-s0": {"lyrics_regressor": -27.0, "audio_siamese": -10.0, "lyrics_classifier": 9.0},  # 0.90 each
            "a-w1-s1": {"lyrics_regressor": -26.9, "audio_siamese": -8.9, "lyrics_classifier": 8.9}}   # 0.89
    world = {"models": runs, "lyrics_regressor": lyr, "lyrics_classifier": clf,
             "audio_siamese": {"reader_vs_median_pct": -10.0, "ceiling_vs_median_pct": -12.0}}
    line = results_table.reader_share_line({"worlds": {"1": world}})
    assert "lyrics_regressor on 1 of 2 runs (misses, share of the reader's gain: a-w1-s1 0.89)" in line  # 26.9/30
    assert "audio_siamese on 1 of 2 runs" in line and "lyrics_classifier on 1 of 2 runs" in line
    # a reader that gains nothing over the median asks the model for as much, no more
    assert results_table.reaches_reader(-1.0, -2.0) and not results_table.reaches_reader(-3.0, -2.0)
    assert line in results_table.reader_table({"worlds": {"1": world}})
    alone = {"1": {**world, "models": {}}}
    assert results_table.reader_share_line({"worlds": alone}) == "No model runs recorded beside these readers."
