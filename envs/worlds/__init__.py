"""Worlds: a price driver, the agents' accounts, order flow and the protocols, on the simulator
(batched arrays, ``sim*``) or on a chain (``chain_*``), behind one market interface per protocol."""
