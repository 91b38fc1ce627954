#!/usr/bin/env bash
# Installs Strata's build and run dependencies on Debian/Ubuntu with apt, only those missing.
# Runs as root, or through sudo when not root. Safe to run repeatedly.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libopenmpi-dev openmpi-bin                 # MPI
  libhdf5-openmpi-dev hdf5-tools             # parallel HDF5 (Open MPI build) and h5dump/h5ls
  libboost-program-options-dev               # INI + command-line configuration
  libopenblas-openmp-dev                     # CBLAS; the OpenMP build shares our OpenMP thread pool
  nlohmann-json3-dev libpcre2-dev            # metadata, GPT-2 pre-tokenization regex
  libgtest-dev googletest                    # tests
  python3 python3-numpy                      # tests: the Spack package check (tests/spack), the NumPy GPT-2 of tests/e2e/gpt2_numpy_logits.py
  fortunes                                   # the quick start's default corpus (/usr/share/games/fortunes)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
