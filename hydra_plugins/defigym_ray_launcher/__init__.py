"""The Hydra launcher hydra/launcher=ray: trials as Ray tasks (agents/ray_sweep.py)."""
