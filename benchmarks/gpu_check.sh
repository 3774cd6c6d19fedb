#!/usr/bin/env bash
# The GPU check of issue 12: on a machine with an NVIDIA GPU and JAX (no
# TensorFlow needed, nothing fetched from the internet: carry keras,
# keras-tuner and keras_adrop's small dependencies as wheels), it prints
# the step time of every method at the paper's shapes (sequential MNIST
# T=784, LSTM 100, batch 128; PTB 2x650) with the ratios of
# benchmarks/backends.py, then runs a short KerasTuner random search over
# delta and K on the digits, then `benchmarks/run.py --backend jax` at the
# same shapes (the ratios again, fused inference against Keras' LSTM, a
# DropConnect training step against Keras' plain LSTM, target <= 1.1x, and
# `Bidirectional` over our LSTM against `Bidirectional` over Keras' LSTM:
# inference and a training step, same weights, outputs compared).
# Under 10 minutes on a GPU. Runs on a CPU too:
#
#   bash benchmarks/gpu_check.sh --quick
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
quick=()
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); fi
python3 -c "import jax; print('device:', jax.devices()[0].device_kind)"
python3 benchmarks/backends.py --backends jax "${quick[@]}"
python3 benchmarks/tuner_check.py "${quick[@]}"
python3 benchmarks/run.py --backend jax --configs sequential_mnist,ptb \
  --no-scaling --no-memory --output "${TMPDIR:-/tmp}/gpu_check_run.json" \
  "${quick[@]}"
