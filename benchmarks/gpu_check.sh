#!/usr/bin/env bash
# The on-device PPO's GPU figures, in one run of under five minutes on one CUDA GPU:
#   bash benchmarks/gpu_check.sh [python]        # from the repository root; prints JSON lines
# 1. device-PPO frames/s on batched CartPoles (4096 to 65536) and on the LP env's torch simulator
#    (4096, 16384 worlds), beside stock SB3 PPO on CartPole with 8 envs (CPU) in the same run;
# 2. the torch simulator's V3 world-steps/s on the GPU (4096, 65536 worlds);
# 3. the test that a rollout and an update read nothing back to the host, on cuda.
set -euo pipefail
PY=${1:-.venv/bin/python}
export OMP_NUM_THREADS=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
timeout 180 "$PY" benchmarks/train_fps.py --device cuda --num-envs 4096 16384 65536 --lp-num-envs 4096 16384 \
    --timesteps 16384 --no-sb3-lp
timeout 60 "$PY" benchmarks/sim_throughput.py --backend torch --device cuda --batches 4096 65536 --steps 50
timeout 45 "$PY" -m pytest -q tests/test_ppo_device.py -k "stay_on_the_device"
