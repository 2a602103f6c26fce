"""The per-song statistics of the synthetic world, fitted to the genuine samples.

Every number here is a summary of the genuine files in ``../shared/realdata`` (281 MSD files, 8,259
musiXmatch test tracks, 21 Last.fm lists) measured by the fidelity stage: quantiles of a marginal
distribution, category shares, or a parameter fitted so that the world's marginal matches (two-sample KS).
No record of the samples is stored. The world's size and coverage (``synth.size``, ``synth.coverage``) change
the number of tracks and which of them each source covers, never these.

A continuous marginal is drawn as ``quantile_map(g, KNOTS)`` with ``g`` standard normal: the piecewise
linear map through the real quantiles at :data:`PROBS` (normal scores), extended linearly past the ends.
Latent factors enter through ``g``, so the marginal stays the real one while similar songs get similar values.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

PROBS = np.array([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])
_Z = norm.ppf(PROBS)

# ---- MSD (281 files) -----------------------------------------------------------------------------------
DURATION = [22.65, 99.11, 137.9, 178.15, 224.29, 272.95, 338.96, 399.99, 517.88]  # seconds
TEMPO = [46.69, 66.41, 84.19, 95.87, 119.9, 142.97, 168.12, 182.39, 207.07]  # bpm
LOUDNESS = [-29.83, -21.08, -16.69, -13.25, -9.42, -6.59, -5.12, -4.06, -2.57]  # dB
SEGMENT_RATE = (3.5, 0.26)  # segments per second: median, log-sd (segments follow duration, r = 0.92)
KEY_SHARE = [0.139, 0.064, 0.103, 0.028, 0.06, 0.093, 0.05, 0.117, 0.053, 0.11, 0.085, 0.096]  # C .. B
MAJOR_SHARE = 0.665
ATTR_LATENT = 0.5  # correlation of duration, tempo, loudness, key, mode, segment rate with the song's factors
TIMBRE = [  # per coefficient, the quantiles at PROBS of one segment's value
    [12.8, 25.6, 30.8, 37.8, 43.8, 48.3, 51.3, 52.6, 54.8],
    [-216.4, -144.5, -103.6, -46.5, 3.4, 42.9, 75.6, 97.9, 147.6],
    [-145.3, -90.1, -62.8, -24.3, 12.9, 47.2, 81.5, 103.4, 157.2],
    [-104.2, -62.7, -46.5, -22.5, 0.1, 24.2, 54.6, 78.0, 132.1],
    [-88.5, -62.2, -48.6, -27.5, -4.6, 19.1, 43.3, 59.0, 90.5],
    [-66.0, -48.3, -40.3, -27.7, -12.7, 9.7, 38.9, 59.3, 108.4],
    [-76.9, -52.9, -41.1, -22.4, -4.0, 14.8, 33.4, 44.8, 67.0],
    [-64.1, -41.3, -31.0, -15.1, -1.2, 12.3, 27.1, 38.4, 69.6],
    [-63.7, -38.1, -27.4, -11.5, 3.2, 17.8, 32.1, 41.7, 62.6],
    [-48.9, -30.5, -21.5, -9.7, 1.4, 12.9, 24.4, 33.3, 54.0],
    [-52.0, -31.6, -22.0, -9.8, 0.6, 10.3, 20.5, 28.3, 47.0],
    [-45.1, -28.9, -20.5, -8.7, 3.2, 14.9, 26.9, 35.1, 53.6],
]
TIMBRE_SHARE = (0.4, 0.2)  # variance shares of a timbre value: song level (latent), modulation; rest is noise
# a segment's pitch-class energy = key profile ** CHROMA_SHARPNESS * PITCH_BIAS * Gamma(CHROMA_SHAPE), then / max
CHROMA_SHARPNESS, CHROMA_SHAPE = 0.8, 1.3
PITCH_BIAS = [0.99, 1.0, 0.8, 0.72, 0.78, 0.75, 0.78, 0.8, 0.78, 0.77, 0.72, 0.75]  # C and C# are brighter

# ---- musiXmatch (8,259 test tracks) ------------------------------------------------------------------
WORDS = [14.0, 49.0, 77.8, 126.0, 185.0, 262.0, 366.0, 471.1, 722.4]  # word occurrences per song
# word prior ~ (rank + ZIPF_SHIFT) ** -ZIPF (Zipf-Mandelbrot), shifted by TOPIC x (word factors . song factors);
# a song of `total` words draws FRESH[0] * total ** FRESH[1] of them, the rest repeat those (choruses): real
# songs' distinct words grow as total ** 0.73
ZIPF, ZIPF_SHIFT, TOPIC, FRESH = 1.45, 6.0, 1.3, (1.75, 0.8)

# ---- Last.fm (21 lists) ------------------------------------------------------------------------------
LIST_LENGTH = (90.0, 0.6)  # similars per track: lognormal median, log-sd
# (the share of empty lists is coverage, not a per-song statistic: synth.coverage.lists, core.published)
POOL = 600  # random candidates per source (plus the artist's own songs)
# observed score = sigmoid(BETA cos + B0 + (lv_i + lv_j) / 2 + ARTIST same_artist + N(0, NOISE^2)), a song's level
# lv = B1 g - B2 min(g, 0)^2 with g standard normal from its factors, LEVEL_SHARED times more from the shared part
# (issue 10: the signal both modalities can see); listed targets drawn with weights exp(PICK cos + ARTIST same)
BETA, B0, B1, B2, ARTIST, NOISE, PICK = 2.15, -2.71, 0.46, 1.81, 11.67, 0.45, 1.96
LEVEL_SHARED = 2.0
SCORE_FLOOR = 1e-4


def quantile_map(g, knots) -> np.ndarray:
    """Standard-normal ``g`` (a scalar or an array) -> values with the quantiles ``knots`` at :data:`PROBS`,
    linear past the ends."""
    k = np.asarray(knots, dtype=float)
    g = np.asarray(g, dtype=float)
    below = k[0] + (g - _Z[0]) * (k[1] - k[0]) / (_Z[1] - _Z[0])
    above = k[-1] + (g - _Z[-1]) * (k[-1] - k[-2]) / (_Z[-1] - _Z[-2])
    return np.where(g < _Z[0], below, np.where(g > _Z[-1], above, np.interp(g, _Z, k)))
