"""Roles: each one module with its observation, action and reward, written once against the market
interface so the same code runs on every backend and in the live adapter."""
