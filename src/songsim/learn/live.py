"""Per-epoch training metrics through DVCLive, DVC's own logger.

Rank 0 alone logs. Each model writes to its own DVCLive folder (``paths.live``/<model>): ``metrics.json``
holds the latest epoch (declared as DVC metrics, so ``dvc exp show`` shows a running experiment's latest
epoch) and ``plots/metrics/live/<short>/<name>.tsv`` the history (``dvc plots`` draws it). The names sit
under ``live.<short>`` (``live.fus.val_mae``): unique across models, and one ``--drop '^live\\.'`` hides
them when experiments are compared on their test metrics. The step is the epoch number (1-based).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

# what each epoch logs, in this order; ``val_accuracy`` only for the classifier (its stopping metric),
# ``train_artist_loss`` only with the audio model's artist loss (``learn.artists``)
EPOCH_KEYS = ("train_loss", "val_loss", "train_mae", "val_mae", "val_accuracy", "val_ndcg", "train_rank_loss",
              "train_artist_loss", "lr")


class EpochLog:
    """DVCLive logger of one model's training run; a no-op on ranks other than 0 (``enabled=False``).

    A resumed run replays the epochs it restores (``log(row)`` for each), so the files always hold the
    whole run, as if it had never been interrupted. An ensemble's members (``optim.members``) log one after
    another: member 2's first epoch is the step after member 1's last."""

    def __init__(self, directory: str | Path | None, short: str, enabled: bool = True):
        self.prefix = f"live/{short}"
        self.offset = 0  # added to each row's epoch: an ensemble's members log one after another
        self.live = None
        if enabled and directory is not None:
            from dvclive import Live  # imported here: ranks that do not log never load it

            # no dvc.yaml of its own (the pipeline declares these files), no report, no `dvc exp save`:
            # the pipeline owns the experiment
            self.live = Live(str(directory), resume=False, report=None, save_dvc_exp=False, dvcyaml=None)

    def log(self, row: dict) -> None:
        """One epoch's row (``epoch``, losses, MAE, accuracy, lr, ...) as step ``row['epoch']``."""
        if self.live is None:
            return
        self.live.step = self.offset + int(row["epoch"])
        for key in EPOCH_KEYS:
            if key in row:
                self.live.log_metric(f"{self.prefix}/{key}", float(row[key]))
        self.live.next_step()  # writes metrics.json now: `dvc exp show` sees this epoch while training goes on

    def close(self) -> None:
        if self.live is not None:
            self.live.end()
            self.live = None
