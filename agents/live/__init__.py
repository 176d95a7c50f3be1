"""The live-execution adapter: an exported policy acting on a real chain, guarded and journaled."""
