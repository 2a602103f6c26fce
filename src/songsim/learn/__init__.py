"""Learn: splits, the training data (song table, pairs), batches, the inner loop, the training run,
DDP and CPU thread sharing, and inference over the training data (song vectors, pair scores)."""
