"""The experiment lab beside the library: grids of runs, their archives and
their results pages (docs/EXPERIMENTS.md)."""
