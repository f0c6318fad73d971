#!/usr/bin/env bash
# Creates .venv with every pinned dependency, horovod included.
#
# horovod 0.28.1 (the latest release) does not build against TensorFlow 2.21 as published:
# horovod/tensorflow/xla_mpi_ops.cc includes XLA headers TF no longer ships. That source only
# serves XLA-compiled allreduce (off by default), so we drop it from the CMake source list and
# build the wheel once, caching it outside the repository keyed by the TF and horovod versions.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
TF_VERSION=2.21.0
HOROVOD_VERSION=0.28.1
CACHE_DIR=${UCF_PIPELINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ucf101-pipeline}
WHEEL_DIR=$CACHE_DIR/wheels/horovod-$HOROVOD_VERSION-tf$TF_VERSION

log() { printf '[setup] %s\n' "$*" >&2; }

has_nvidia_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
has_cuda_toolkit() { command -v nvcc >/dev/null 2>&1 && has_nvidia_gpu; }

ensure_apt_packages() {
    local missing=()
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v g++ >/dev/null 2>&1 || missing+=(g++)
    command -v make >/dev/null 2>&1 || missing+=(make)
    "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || missing+=(python3-dev)
    ((${#missing[@]} == 0)) && return 0
    apt_install "${missing[@]}"
}

apt_install() {
    log "installing Debian packages: $*"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Extracting rar: unar reads RAR 1.5 to 4, solid archives too (UCF101.rar is RAR 4; libarchive cannot extract a
# solid RAR 4); bsdtar (libarchive-tools) reads RAR 5, where Debian's unar 1.10 fails on some archives. Both are in
# Debian main (unrar is non-free, Debian's 7zip has no RAR codec). Runtime tools, not build ones: checked on every
# run, for an existing .venv too (the Makefile re-runs this script when it changes).
ensure_rar_tools() {
    local missing=()
    command -v unar >/dev/null 2>&1 || missing+=(unar)
    command -v bsdtar >/dev/null 2>&1 || missing+=(libarchive-tools)
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

build_horovod_wheel() {
    if compgen -G "$WHEEL_DIR/horovod-$HOROVOD_VERSION-*.whl" >/dev/null; then
        log "horovod wheel cached in $WHEEL_DIR"
        return 0
    fi
    ensure_apt_packages
    BUILD_DIR=$(mktemp -d)
    trap 'rm -rf "${BUILD_DIR:-}"' EXIT
    local work=$BUILD_DIR
    log "building horovod $HOROVOD_VERSION against TensorFlow $TF_VERSION (several minutes, once per machine)"
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: "horovod==$HOROVOD_VERSION" -d "$work"
    tar -xzf "$work/horovod-$HOROVOD_VERSION.tar.gz" -C "$work"
    local src=$work/horovod-$HOROVOD_VERSION
    sed -i '/xla_mpi_ops.cc/d' "$src/horovod/tensorflow/CMakeLists.txt"
    local gpu_env=()
    if has_cuda_toolkit; then
        log "CUDA found: building with NCCL allreduce"
        gpu_env=(HOROVOD_GPU_OPERATIONS=NCCL)
    fi
    env HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
        HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 MAKEFLAGS="-j$(nproc)" "${gpu_env[@]}" \
        "$VENV/bin/pip" wheel -q --no-deps --no-build-isolation "$src" -w "$work/dist"
    mkdir -p "$WHEEL_DIR"
    # Move into place atomically so an interrupted build never leaves a half-written cache entry.
    for whl in "$work"/dist/horovod-*.whl; do
        cp "$whl" "$WHEEL_DIR/.$(basename "$whl").tmp"
        mv "$WHEEL_DIR/.$(basename "$whl").tmp" "$WHEEL_DIR/$(basename "$whl")"
    done
}

main() {
    ensure_rar_tools
    if [[ ! -x $VENV/bin/python ]]; then
        ensure_apt_packages
        log "creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
    local tf_extra=cpu
    has_nvidia_gpu && tf_extra=gpu
    log "installing the project and pinned dependencies (tensorflow: $tf_extra)"
    "$VENV/bin/pip" install -q -e "$ROOT[$tf_extra,rar,dev]"
    build_horovod_wheel
    # --no-deps: its runtime deps are pinned in pyproject.toml; never let it re-resolve TensorFlow.
    "$VENV/bin/pip" install -q --no-deps "$WHEEL_DIR"/horovod-$HOROVOD_VERSION-*.whl
    "$VENV/bin/horovodrun" --check-build >&2
    touch "$VENV/.setup-complete"
    log "done"
}

main "$@"
