"""English function words (the closed word classes), which the lyrics encoders read apart as the song's
style (``encoder.stopwords: style``) or leave out (``english``), and their ids in a stemmed musiXmatch
vocabulary.

The list is ours, written from the closed classes of English grammar rather than copied from a search
engine's list, so it holds no content word (scikit-learn's list also holds ``fire``, ``cry``, ``find``,
``one``, ``first``; a song's words). Classes: personal, possessive, reflexive, demonstrative,
interrogative and relative pronouns; articles and determiners; prepositions; conjunctions; the auxiliary
and modal verbs; and the adverbs of degree, place and negation that work as grammar (``not``, ``so``,
``very``, ``there``). musiXmatch's vocabulary holds Porter2 stems, so a stem counts as a function word
when it is one, when it is the stem of one, or when the word it stands for (its reverse mapping) is one.
"""

from __future__ import annotations

import numpy as np

FUNCTION_WORDS = frozenset("""
i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves
this that these those what which who whom whose whatever whichever whoever
a an the some any no every each either neither all both few many much more most other another such own same
several enough
about above across after against along among amongst around at before behind below beneath beside besides
between beyond by down during except for from in inside into near of off on onto out outside over past since
through throughout till to toward towards under underneath until up upon with within without via per
and but or nor so yet because although though while whilst whereas if unless whether than as once
am is are was were be been being have has had having do does did doing will would shall should can could
may might must ought
not very too also just only then there here when where why how thus hence therefore however
""".split())


def stop_stems(stop: frozenset[str]) -> frozenset[str]:
    """The words of ``stop`` and their Porter2 stems (the musiXmatch vocabulary holds stems)."""
    import snowballstemmer

    stem = snowballstemmer.stemmer("english").stemWord
    return stop | {stem(w) for w in stop}


def stopword_ids(vocab: list[str], words: dict[str, str] | None = None,
                 stop: frozenset[str] = FUNCTION_WORDS) -> np.ndarray:
    """Vocabulary ids (``vocab[i]`` has id ``i + 1``) of the stems that are function words: the stem is in
    ``stop``, is the Porter2 stem of a word in it (:func:`stop_stems`), or stands for one (``words``:
    musiXmatch's reverse mapping, stem -> word). Sorted int64."""
    stems = stop_stems(stop)
    words = words or {}
    return np.array([i for i, s in enumerate(vocab, 1) if s in stems or words.get(s, s) in stop], dtype=np.int64)
