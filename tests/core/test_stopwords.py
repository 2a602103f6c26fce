"""The function-word list and its ids in a stemmed vocabulary."""

from songsim.core.stopwords import FUNCTION_WORDS, stop_stems, stopword_ids


def test_stop_stems_hold_the_words_and_their_stems():
    assert {"the", "becaus"} <= stop_stems(frozenset({"the", "because"}))  # the vocabulary holds stems


def test_stems_match_by_the_stem_by_the_stem_of_a_listed_word_and_by_the_word_they_stand_for():
    vocab = ["the", "love", "becaus", "fire", "whi", "onc", "cri", "hi"]
    words = {"becaus": "because", "whi": "why", "onc": "once", "cri": "cry", "hi": "his"}
    # the: listed; becaus: the stem of "because"; whi: stands for "why"; onc: once; hi stands for his
    assert stopword_ids(vocab, words).tolist() == [1, 3, 5, 6, 8]
    assert stopword_ids(vocab).tolist() == [1, 3, 5, 6]  # without the map, hi is no function word's stem


def test_the_list_holds_grammar_not_song_words():
    assert {"the", "of", "and", "i", "you", "is", "not", "so", "there"} <= FUNCTION_WORDS
    assert not {"love", "fire", "cry", "heart", "one", "first", "find", "night", "baby"} & FUNCTION_WORDS


def test_the_genuine_musixmatch_vocabulary_holds_162_function_word_stems(realdata):
    """On the genuine vocabulary (the 5,000 stems of a musiXmatch file's header) with the official reverse
    mapping: 162 stems are function words, the most frequent ones among them, and no song word."""
    from songsim.ingest.readers.mxm import read_reverse_mapping

    with open(realdata / "mxm" / "mxm_dataset_train.excerpt_b.txt", encoding="utf-8") as fh:
        vocab = next(line for line in fh if line.startswith("%"))[1:].strip().split(",")
    words = read_reverse_mapping(realdata / "mxm" / "mxm_reverse_mapping.txt")
    ids = stopword_ids(vocab, words)
    stems = {vocab[i - 1] for i in ids}
    assert len(vocab) == 5000 and len(ids) == 162
    assert {"i", "the", "you", "to", "and", "onli", "becaus", "whi"} <= stems  # stems of only, because, why
    assert not {"love", "fire", "cri", "heart", "night", "babi", "one", "time"} & stems
