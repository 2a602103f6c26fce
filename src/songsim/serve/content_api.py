"""``POST /similar/content`` apart from HTTP: the song a request describes (lyrics text or a musiXmatch bag,
and/or an MSD file in base64) read and answered by a model slot, every problem with the content a 422
that names it (the kinds of :mod:`songsim.serve.contract`).
"""

from __future__ import annotations

import threading

from songsim.serve.service import ModelSlot, RequestError, hits_json


class VocabularyCache:
    """The vocabulary content queries read lyrics with, loaded on the first one (then shared)."""

    def __init__(self):
        self._vocab, self._lock = None, threading.Lock()

    def get(self, path):
        from songsim.serve.content import Vocabulary

        with self._lock:
            if self._vocab is None:
                self._vocab = Vocabulary(path)
        return self._vocab


def answer_content(slot: ModelSlot, vocab: VocabularyCache, served: tuple[str, ...], lyrics: str | None,
                   bow: str | None, h5_base64: str | None, k: int, explain: bool) -> dict:
    """``POST /similar/content``: the song the request describes (lyrics text or a bag, and/or an MSD file
    in base64), answered by ``slot``'s recommender; every problem with the content a 422 naming it."""
    import base64
    import binascii

    from songsim.models import MODELS
    from songsim.serve.content import Content, ContentError, read_h5

    rec = slot.current.rec
    if lyrics is None and bow is None and h5_base64 is None:
        raise RequestError(422, "no_content", "give lyrics, bow or h5_base64 (lyrics or bow, and/or h5_base64)")
    if lyrics is not None and bow is not None:
        raise RequestError(422, "no_content", "lyrics or bow, not both: both are the song's words")
    content = Content()
    try:
        if lyrics is not None or bow is not None:
            words = vocab.get(rec.explain_sources["vocab_path"])
            content.bag = words.from_text(lyrics, "lyrics") if lyrics is not None else words.from_bow(bow, "bow")
        if h5_base64 is not None:
            try:
                data = base64.b64decode(h5_base64, validate=True)
            except (binascii.Error, ValueError) as e:  # not base64, or not ASCII at all
                raise ContentError("bad_h5", f"h5_base64: not base64 ({e})") from None
            content.audio = read_h5(data, rec.content_config[1], "h5_base64")
        hits, info = rec.similar_to(content, k, None, explain)
    except ContentError as e:
        if e.kind == "missing_modality":
            given = content.modalities()
            can = [m for m in served if MODELS[m].serves("lyrics" in given, "audio" in given)]
            raise RequestError(422, "modality_not_given", str(e), models=can) from None
        raise RequestError(422, {"too_large": "content_too_large"}.get(e.kind, e.kind), str(e)) from None
    except OSError as e:  # the explanation reads lyrics/audio, which a rebuild may be rewriting
        raise RequestError(503, "explain_unavailable", f"explanations unavailable for now: {e}") from None
    query = {x: info.get(x) for x in ("modalities", "same_as", "lyrics", "model_load_s", "encode_s")}
    return {"query": query, "model": slot.name, "k": k, "results": hits_json(hits)}
