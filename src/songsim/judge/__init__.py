"""Judge: evaluation of a trained model against trivial baselines (pairs and ranking), ranking metrics,
and the fidelity of the world against real reference files."""
