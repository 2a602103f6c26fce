"""The function-word list and its ids in a stemmed vocabulary."""

from songsim.core.stopwords import FUNCTION_WORDS, stopword_ids


def test_stems_match_by_the_stem_by_the_stem_of_a_listed_word_and_by_the_word_they_stand_for():
    vocab = ["the", "love", "becaus", "fire", "whi", "onc", "cri", "hi"]
    words = {"becaus": "because", "whi": "why", "onc": "once", "cri": "cry", "hi": "his"}
    # the: listed; becaus: the stem of "because"; whi: stands for "why"; onc: once; hi stands for his
    assert stopword_ids(vocab, words).tolist() == [1, 3, 5, 6, 8]
    assert stopword_ids(vocab).tolist() == [1, 3, 5, 6]  # without the map, hi is no function word's stem


def test_the_list_holds_grammar_not_song_words():
    assert {"the", "of", "and", "i", "you", "is", "not", "so", "there"} <= FUNCTION_WORDS
    assert not {"love", "fire", "cry", "heart", "one", "first", "find", "night", "baby"} & FUNCTION_WORDS
