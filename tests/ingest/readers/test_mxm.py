"""musiXmatch readers on the genuine text files (both header variants), the SQLite twin, bad lines."""

import pytest

from songsim.ingest.readers import BadRecord, FormatError
from songsim.ingest.readers.mxm import MxmReader, MxmSqliteReader, MxmTextReader, parse_track_line


def test_real_test_file(realdata):
    r = MxmTextReader(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt")
    assert len(r.vocab) == 5000 and r.vocab[:3] == ["i", "the", "you"]
    assert sum(1 for w in r.vocab if not w.isascii()) == 171  # FORMATS.md: 171 non-ASCII words
    recs = list(r)
    assert len(recs) == 8259 and not any(isinstance(x, BadRecord) for x in recs)
    assert recs[0].track_id == "TRAABRX12903CC4816" and recs[-1].track_id == "TRHWTRT128E079281E"
    assert all(x.split == "test" for x in recs)
    distinct = [len(x.word_ids) for x in recs]
    assert min(distinct) >= 1 and max(distinct) <= 380
    assert all(x.word_ids == sorted(set(x.word_ids)) for x in recs)


def test_real_edited_header_variant(realdata):
    small = MxmTextReader(realdata / "mxm" / "mxm_dataset.excerpt_small.txt")
    train = MxmTextReader(realdata / "mxm" / "mxm_dataset_train.excerpt_b.txt")
    assert small.vocab == train.vocab
    a = {x.track_id: x for x in small}
    b = {x.track_id: x for x in train}
    assert len(a) == 29
    common = set(a) & set(b)
    assert common and all(a[t].word_ids == b[t].word_ids and a[t].counts == b[t].counts for t in common)


def test_real_folder_shares_one_vocabulary(realdata, tmp_path):
    for name in ("mxm_dataset_train.excerpt_b.txt", "mxm_dataset_test.excerpt_a.txt"):
        (tmp_path / name.replace(".excerpt_b", "").replace(".excerpt_a", "")).write_bytes(
            (realdata / "mxm" / name).read_bytes())
    r = MxmReader(tmp_path)
    recs = list(r)
    assert len(recs) == 114 + 31
    assert {x.split for x in recs} == {"train", "test"}


@pytest.mark.parametrize("line,reason", [
    ("TRAAAAA128F0000000,12,3:1,2:4", "unsorted_or_duplicate_index"),
    ("TRAAAAA128F0000000,12,3:1,3:4", "unsorted_or_duplicate_index"),
    ("TRAAAAA128F0000000,12,0:1", "index_out_of_vocab"),
    ("TRAAAAA128F0000000,12,11:1", "index_out_of_vocab"),
    ("TRAAAAA128F0000000,12,x:1", "bad_index"),
    ("TRAAAAA128F0000000,12,1:one", "bad_count"),
    ("TRAAAAA128F0000000,12,1:0", "bad_count"),
    ("TRAAAAA128F0000000,12,15", "malformed_pair"),
    ("TRAAAAA128F0000000,abc,1:1", "bad_mxm_id"),
    ("TRAAAAA,12,1:1", "bad_track_id"),
    ("TRAAAAA128F0000000", "malformed_line"),
])
def test_bad_lines(line, reason):
    got = parse_track_line(line, 10, "f.txt:7", "train")
    assert isinstance(got, BadRecord) and got.reason == reason and got.where == "f.txt:7"


def test_bad_line_names_file_and_line(tmp_path):
    p = tmp_path / "mxm_dataset_train.txt"
    p.write_text("# c\n%a,b,c\nTRAAAAA128F0000000,1,1:2\nTRAAAAA128F0000001,1,9:2\n")
    recs = list(MxmTextReader(p))
    assert recs[1].where == f"{p}:4" and recs[1].reason == "index_out_of_vocab"


def test_track_line_before_vocabulary_fails(tmp_path):
    p = tmp_path / "mxm_dataset_train.txt"
    p.write_text("# c\nTRAAAAA128F0000000,1,1:2\n")
    with pytest.raises(FormatError, match=":2: track line before any vocabulary"):
        MxmTextReader(p)


def test_folder_with_different_vocabularies_fails(tmp_path):
    (tmp_path / "mxm_dataset_train.txt").write_text("%a,b\n")
    (tmp_path / "mxm_dataset_test.txt").write_text("%a,c\n")
    with pytest.raises(FormatError, match="vocabulary differs"):
        MxmReader(tmp_path)


def test_sqlite_twin_matches_text(tiny_world):
    db = MxmSqliteReader(tiny_world / "mxm" / "mxm_dataset.db")
    txt = MxmReader(tiny_world / "mxm")
    assert db.vocab == txt.vocab
    a = {x.track_id: (x.word_ids, x.counts, x.split.split(":")[-1]) for x in db}
    b = {x.track_id: (x.word_ids, x.counts, x.split) for x in txt}
    assert a == b
