#!/usr/bin/env bash
# The GPU session in one command, run from the repository root on a CUDA machine:
#
#   bash benchmarks/gpu_run.sh [--sim] [gpu_bench.py options]
#
# Installs the wheels under .whl/ (numba 0.68.1 and numpy 2.4.6 for CPython 3.12: the
# machine's own numba 0.68.0 does not import against its numpy 2.5.2) into /tmp/site, points
# numba at the CUDA toolkit's NVVM, then runs benchmarks/gpu_bench.py. Everything goes to
# $OUT (default ./gpu-out): gpu_bench.json, log, warm_cpu.log.
set -u -o pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
{
  echo "== $(date -u +%FT%TZ) $(hostname) $(uname -m)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | head -3
  if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
  fi
  export PYTHONPATH=${PYTHONPATH:-$PWD}
  # numba finds NVVM and libdevice under $CUDA_HOME/nvvm; take the first toolkit holding them
  if [ -z "${CUDA_HOME:-}" ]; then
    for d in /usr/local/cuda /usr/local/cuda-* /opt/cuda; do
      if ls "$d"/nvvm/lib64/libnvvm.so* >/dev/null 2>&1; then export CUDA_HOME=$d; break; fi
    done
  fi
  echo "CUDA_HOME=${CUDA_HOME:-unset}; $(ls ${CUDA_HOME:-/nonexistent}/nvvm/lib64 ${CUDA_HOME:-/nonexistent}/nvvm/libdevice 2>&1 | tr '\n' ' ')"
  $PY -c "import numba, numpy, llvmlite; print('numba', numba.__version__, numba.__file__, 'numpy', numpy.__version__, 'llvmlite', llvmlite.__version__)"
  $PY benchmarks/gpu_bench.py --out "$OUT" "$@"
  echo "gpu_bench.py exit status $?"
} 2>&1 | tee "$OUT/log"
