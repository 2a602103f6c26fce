"""The published dataset-level figures of the Million Song Dataset family, and the world's coverage presets.

``PUBLISHED`` is the real data's coverage, from the counts the dataset authors publish (copied in
``../shared/realdata/PUBLISHED.md``): the synthetic world's default shape and what the fidelity report checks
a world against. ``DENSE`` is the demo world's denser shape (``params.yaml``), kept so that ``make demo``
trains in minutes.
"""

from __future__ import annotations

from songsim.core.config import CoverageConfig

MSD_TRACKS = 1_000_000  # MSD tracks, each with an .h5 file (Bertin-Mahieux et al., ISMIR 2011)
LASTFM_MATCHED = 943_347  # Last.fm: tracks matched MSD <-> Last.fm (millionsongdataset.com/lastfm)
LASTFM_LISTED = 584_897  # Last.fm: tracks with at least one similar track (same page)
LASTFM_PAIRS = 56_506_688  # Last.fm: (track - similar track) pairs (same page)
MXM_TRACKS = 237_662  # musiXmatch: tracks with lyrics (millionsongdataset.com/musixmatch)
MXM_TEST = 27_143  # musiXmatch: bags in mxm_dataset_test.txt (same page; 210,519 in the train file)

# 943,347 / 1,000,000 = 0.943; 584,897 / 943,347 = 0.620 of the Last.fm files (0.585 of MSD);
# 237,662 / 1,000,000 = 0.238; every MSD track has its .h5 file; 27,143 / 237,662 = 0.114
PUBLISHED = CoverageConfig(lastfm=0.943, lists=0.620, lyrics=0.238, audio=1.0, mxm_test=0.114)
# the demo world (the committed synth.coverage): what the world wrote before coverage was a param, byte for byte
DENSE = CoverageConfig(lastfm=0.9, lists=0.83, lyrics=0.85, audio=0.85, mxm_test=0.11)
PAIRS_PER_LIST = LASTFM_PAIRS / LASTFM_LISTED  # 96.6 similars per non-empty list

# each published share: (numerator, denominator, the row of PUBLISHED.md it comes from)
SOURCES = {
    "lastfm": (LASTFM_MATCHED, MSD_TRACKS, "Last.fm: tracks matched MSD <-> Last.fm, 943,347 of the MSD's "
               "1,000,000 (millionsongdataset.com/lastfm)"),
    "lists": (LASTFM_LISTED, LASTFM_MATCHED, "Last.fm: tracks with at least one similar track, 584,897 (62.0% of "
              "matched; millionsongdataset.com/lastfm)"),
    "lyrics": (MXM_TRACKS, MSD_TRACKS, "musiXmatch: tracks with lyrics, 237,662 (23.8% of MSD; "
               "millionsongdataset.com/musixmatch)"),
    "audio": (MSD_TRACKS, MSD_TRACKS, "MSD: 1,000,000 tracks, each with an .h5 file of Echo Nest features "
              "(Bertin-Mahieux et al., ISMIR 2011)"),
    "mxm_test": (MXM_TEST, MXM_TRACKS, "musiXmatch: train / test bags 210,519 / 27,143 (test 11.4%; "
                 "millionsongdataset.com/musixmatch)"),
    "pairs_per_list": (LASTFM_PAIRS, LASTFM_LISTED, "Last.fm: 56,506,688 (track - similar track) pairs, 96.6 per "
                       "track that has a list (millionsongdataset.com/lastfm)"),
}
