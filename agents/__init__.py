"""Scripted baselines, stable-baselines3 wiring and policy export."""
