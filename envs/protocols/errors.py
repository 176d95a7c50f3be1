"""The code every protocol's per-world error array holds where the call succeeded."""

OK = 0
