#!/usr/bin/env bash
# The published ablation grid of the BiLSTM lyrics regressor as DVC experiments.
#   scripts/queue_ablation.sh          queue the full grid (2 x 2 x 3 x 2 + data), run it, show it: every
#                                      experiment of the grid switches the encoder to the published BiLSTM
#                                      over the word sequence (the demo's bag encoder has no LSTM units)
#   scripts/queue_ablation.sh --small  three one-factor experiments, run one after another
# Only the lyrics regressor's stages (and what they need) run: the target is its evaluate stage.
set -euo pipefail
cd "$(dirname "$0")/.."
M=lyrics_regressor.model
T=evaluate@lyrics_regressor
if [ "${1:-}" = "--small" ]; then
  # --temp: each runs in a temporary copy, so the workspace keeps the committed results
  dvc exp run "$T" --temp -n frozen-emb -S "$M.encoder.freeze_embeddings=true"
  dvc exp run "$T" --temp -n dropout-0.5 -S "$M.dropout=0.5"
  dvc exp run "$T" --temp -n no-l2 -S "$M.l2=0.0"
else
  for frozen in false true; do
    for units in "[128,64]" "[256,128]"; do
      for dropout in 0.3 0.4 0.5; do
        for l2 in 0.0 0.0001; do
          dvc exp run "$T" --queue -S "$M.encoder.kind=bilstm" -S "$M.encoder.input=tokens" -S "$M.encoder.stopwords=none" \
            -S "$M.encoder.freeze_embeddings=$frozen" -S "$M.encoder.lstm_units=$units" \
            -S "$M.dropout=$dropout" -S "$M.l2=$l2"
        done
      done
    done
  done
  dvc exp run "$T" --queue -n less-data -S "splits.data_fraction=0.5"
  dvc exp run --run-all --jobs 1
fi
dvc exp show --md --drop '.*' --keep "Experiment|.*lyrics_regressor\.json:lyr\.(mae|rmse|ndcg)$|\
lyrics_regressor\.model\.encoder\.(kind|freeze_embeddings|lstm_units)$|lyrics_regressor\.model\.(dropout|l2)$|splits\.data_fraction"
