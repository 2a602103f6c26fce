"""Synth: the synthetic world (its latent model, calibration and vocabulary) and the ``synth_world`` stage that
writes it in the exact real file formats, one writer per format mirroring ``ingest/readers/``."""
