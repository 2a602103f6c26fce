"""The model's inputs for songs asked about by their content (``serve.content``), read as the pipeline reads
a catalog song: a query's own song table, the lyrics-only variants explanations compare, and the query's
vector (torch, imported here only when a function runs).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from songsim.core.config import ChunkAudioConfig
from songsim.core.schemas import N_FEAT
from songsim.serve.content import QUERY_ID, Bag, Content, ContentError

STYLE_PEERS = 9  # the other results whose function words a result's own are compared with (word_effects)


def lyrics_inputs(bags: list[Bag], bag_words: int, expand) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Bags as a lyrics encoder's inputs ``(tokens, lengths, counts)``, read as the pipeline reads catalog
    songs (``learn.data.lyrics_arrays``; the word sequence of ``expand_lyrics`` for a BiLSTM, a catalog
    song's own word shuffle where the bag names its track)."""
    import zlib

    from songsim.ingest.lyrics import expand_tokens
    from songsim.learn.data import lyrics_arrays

    columns = {"word_ids": [b.word_ids for b in bags], "counts": [b.counts for b in bags]}
    if not bag_words:  # the encoder reads the word sequence (lyrics_arrays reads the bag's columns otherwise)
        seqs, lens = [], []
        for bag in bags:
            tid = bag.report.get("track_id", QUERY_ID)
            rng = (np.random.default_rng([expand.seed, zlib.crc32(tid.encode())])
                   if expand.word_order == "shuffle" else None)
            seq, n = expand_tokens(bag.word_ids, bag.counts, expand.max_len, rng)
            seqs.append(seq.tolist())
            lens.append(n)
        columns |= {"tokens": pa.array(seqs, pa.list_(pa.int16(), expand.max_len)), "length": lens}
    return lyrics_arrays(pa.table(columns), np.arange(len(bags)), bag_words)


def bags_table(bags: list[Bag], spec, bag_words: int, expand, chunk: ChunkAudioConfig):
    """Lyrics-only songs as one ``SongTable`` a model reading lyrics encodes (a partial model's audio
    masked as missing): the rows explanations compare."""
    from songsim.learn.data import SongTable

    tokens, lengths, counts = lyrics_inputs(bags, bag_words, expand)
    n = len(bags)
    audio = np.zeros((n, 2 * N_FEAT, chunk.frames), dtype=np.float16) if spec.uses_audio else None
    masks = (np.ones(n, dtype=bool), np.zeros(n, dtype=bool)) if spec.partial else (None, None)
    return SongTable([f"{QUERY_ID}{i}" for i in range(n)], tokens, lengths, audio, counts, *masks)


def content_table(content: Content, spec, bag_words: int, expand, chunk: ChunkAudioConfig):
    """The asked song as the one-row ``SongTable`` model ``spec`` encodes, read as the pipeline reads a
    catalog song (``expand``: ``ExpandLyricsConfig``, the word sequence of a BiLSTM; ``chunk``: the
    frames). A model that stands in for a missing modality (``spec.partial``) takes either; another
    needs every modality it reads."""
    from songsim.learn.data import SongTable

    needs = spec.modalities
    given = [m for m in needs if m in content.modalities()]
    lacking = [m for m in needs if m not in given]
    if not given or (lacking and not spec.partial):
        raise ContentError("missing_modality", f"model {spec.name} reads {' and '.join(needs)}: give "
                           + " and ".join({"lyrics": "lyrics (text or a bag of words)", "audio": "an .h5 file"}[m]
                                          for m in lacking))
    tokens = lengths = counts = audio = has_lyrics = has_audio = None
    if spec.uses_lyrics:
        if content.bag is not None:
            tokens, lengths, counts = lyrics_inputs([content.bag], bag_words, expand)
        else:  # a partial model's song without lyrics: an all-zero row, masked
            tokens, lengths = np.zeros((1, 1), dtype=np.int16), np.zeros(1, dtype=np.int32)
            counts = np.zeros((1, 1), dtype=np.int16) if bag_words else None
        has_lyrics = np.array([content.bag is not None])
    if spec.uses_audio:
        dtype = np.float16 if chunk.float16 else np.float32
        audio = (content.audio.frames(chunk.frames)[None] if content.audio is not None
                 else np.zeros((1, 2 * N_FEAT, chunk.frames))).astype(dtype)
        has_audio = np.array([content.audio is not None])
    if not spec.partial:
        has_lyrics = has_audio = None
    return SongTable([QUERY_ID], tokens, lengths, audio, counts, has_lyrics, has_audio)


def encode_content(model, spec, content: Content, expand, chunk: ChunkAudioConfig) -> np.ndarray:
    """The asked song's vector ``(D,)`` under ``model`` (torch; what ``embed`` computes for a catalog song)."""
    from songsim.learn.inference import encode_songs

    prior = next((m.word_prior for m in model.modules() if hasattr(m, "word_prior")), None)  # (V + 1,)
    if content.bag is not None and prior is not None:
        ids = np.asarray(content.bag.word_ids, dtype=np.int64)
        ids = ids[(ids > 0) & (ids < len(prior))]
        read = prior.detach().cpu().numpy().copy()
        style = style_words(model)
        if style is not None:  # stopwords: style reads the function words too, apart
            read[style] = 1.0
        if not (read[ids] > 0).any():
            raise ContentError("empty_lyrics", "every word of the lyrics is one the model leaves out (the function "
                               "words of encoder.stopwords, or words of IDF 0): give lyrics with content words, or "
                               "ask by the .h5 alone")
    table = content_table(content, spec, spec.bag_words(model.cfg), expand, chunk)
    device = next(model.parameters()).device
    return encode_songs(model, table, np.arange(1), 1, device).cpu().numpy()[0]


def style_words(model) -> np.ndarray | None:
    """The vocabulary ids the model's bag encoder reads apart, as the song's function-word style
    (``encoder.stopwords: style``), or None when it has no such channel."""
    mask = next((m.style_mask for m in model.modules() if hasattr(m, "style_mask")), None)  # (V + 1,)
    return None if mask is None else np.flatnonzero(mask.detach().cpu().numpy() > 0)


def word_effects(model, spec, blocks: list[int], weights: list[float], lyrics: np.ndarray, config: tuple,
                 query: tuple[list, list], results: list[tuple[list, list] | None]) -> list[dict[int | str, float]]:
    """For each result, what each word it shares with the query does to their lyrics match under the model:
    the drop in the pair's lyrics term of the ranking score (columns ``lyrics`` of the ranking space of
    ``blocks`` and ``weights``) when the word leaves both songs; a larger drop, a word carrying more of the
    match. A model that reads the function words apart (``encoder.stopwords: style``) has them as one
    entry, ``"function_words"``: how much more the result's function words bring it to the query than the
    function words of the list's other songs would (the pair's lyrics term less its mean over the variants
    of the result that keep its content words and take another result's function words, up to
    ``STYLE_PEERS`` of them, the nearest to the query first; given where another result has lyrics; a bag is
    read to the encoder's ``bag_words`` most frequent words, so a peer's many function words can push out
    a few of the result's rarest content words). Removing them instead
    would leave both songs the style head's one output, so close that the part would read below 0 for
    nearly every pair. The other words are those it shares beside them. Bags are (word ids, counts);
    ``config``: (ExpandLyricsConfig, ChunkAudioConfig). One forward pass of the model over every variant."""
    from songsim.learn.inference import encode_songs
    from songsim.serve.retrieval import ranking_space

    def without(bag: tuple[list, list], words) -> Bag:
        keep = [i for i, x in enumerate(bag[0]) if x not in words]
        return Bag([bag[0][i] for i in keep], [bag[1][i] for i in keep])

    def swapped(bag: tuple[list, list], peer: tuple[list, list]) -> Bag:  # bag's content words, peer's style
        pairs = sorted([(w, c) for w, c in zip(*bag) if w not in style] + [(w, c) for w, c in zip(*peer) if w in style])
        return Bag([w for w, _ in pairs], [c for _, c in pairs])

    style = style_words(model)
    style = set() if style is None else set(style.tolist())
    have = [i for i, bag in enumerate(results) if bag is not None]
    rows, plan = [Bag(*query)], []
    for i, bag in enumerate(results):
        shared = sorted(set(query[0]) & set(bag[0])) if bag is not None else []
        keys: list[int | str] = [w for w in shared if w not in style]
        peers = [results[j] for j in have if j != i][:STYLE_PEERS] if style and bag is not None else []
        plan.append((len(rows), keys, len(peers)))
        rows += [Bag(*bag)] if bag is not None else []
        rows += [without(query, {w}) for w in keys] + [without(bag, {w}) for w in keys]
        rows += [swapped(bag, peer) for peer in peers]
    rows = [r if r.word_ids else Bag([0], [1]) for r in rows]  # a song whose only word left: padding alone
    table = bags_table(rows, spec, spec.bag_words(model.cfg), *config)
    device = next(model.parameters()).device
    space = ranking_space(encode_songs(model, table, np.arange(len(rows)), 4096, device).cpu().numpy(),
                          blocks, weights)[:, lyrics]  # (rows, lyrics columns)
    out = []
    for start, shared, n_peers in plan:
        n = len(shared)
        pair = space[0] @ space[start] if n or n_peers else 0.0  # the pair's lyrics term
        q_less = space[start + 1:start + 1 + n]  # (n, ...) the query without each shared word
        c_less = space[start + 1 + n:start + 1 + 2 * n]  # the result without it
        effects: dict[int | str, float] = dict(zip(shared, (pair - (q_less * c_less).sum(1)).tolist()))
        if n_peers:  # the result with each peer's function words instead of its own
            effects["function_words"] = float(pair - (space[start + 1 + 2 * n:start + 1 + 2 * n + n_peers]
                                                      @ space[0]).mean())
        out.append(effects)
    return out
