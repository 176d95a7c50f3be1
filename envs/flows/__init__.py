"""Order flow around the protocols' exact math: real events replayed (``replay``)."""
