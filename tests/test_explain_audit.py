"""scripts/explain_audit.py's word-signal diagnostic on a file whose answer is known."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from explain_audit import word_signal  # noqa: E402


def _mxm(path: Path, rows: list[str]) -> Path:
    path.write_text("# a test file\n%the,love,war\n" + "".join(f"TR{i:016d},{i + 1},{r}\n" for i, r in enumerate(rows)))
    return path


def test_a_word_at_one_rate_in_every_song_carries_no_signal(tmp_path):
    """'the' is half of every song (no variance beyond the draw): none of the signal; 'love' and 'war'
    alternate (rate 0 or 0.5, mean 0.25: squared coefficient of variation 1) and carry all of it."""
    rows = ["1:50,2:50" if i % 2 else "1:50,3:50" for i in range(40)]
    out = word_signal(_mxm(tmp_path / "mxm_dataset_test.txt", rows), frozenset({"the"}))
    assert out == {"songs": 40, "stopword_share_of_words": 0.5, "stopword_share_of_signal": 0.0}


def test_songs_under_min_words_are_left_out(tmp_path):
    rows = ["1:50,2:50" if i % 2 else "1:50,3:50" for i in range(40)] + ["1:10"] * 10  # 10 short songs
    out = word_signal(_mxm(tmp_path / "mxm_dataset_test.txt", rows), frozenset({"the"}))
    assert out["songs"] == 40 and out["stopword_share_of_words"] == 0.5
