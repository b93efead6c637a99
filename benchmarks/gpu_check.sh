#!/usr/bin/env bash
# The GPU checks of the performance issue as one command for a machine with a CUDA GPU and a
# python3 whose PyTorch sees it: the CUDA tests (sampler against the reference loop, JEM runs
# in float32, bf16 and fp16 that the CPU reads back), then `sgld_throughput.py --only gpu`.
# Logs and results/perf-gpu.json go to $OUT (default ./gpu-out). About 5-8 minutes on an H100.
set -o pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name(0))" || exit 2
python3 -m pytest -q -p no:cacheprovider -rs tests/samplers/test_fast_sampler.py \
    tests/test_train.py -k "cuda or reference_loop" 2>&1 | tee "$out/cuda-tests.log"
tests=$?
python3 benchmarks/sgld_throughput.py --only gpu 2>&1 | tee "$out/gpu-bench.log"
bench=$?
cp benchmarks/results/perf-gpu.json "$out/" 2>/dev/null
exit $(( tests || bench ))
