"""Serve: a vector for every catalog song (``embed``), the ANN index and ``songsim similar``
(``retrieval``)."""
