"""`python -m tools.grid` (docs/grid.md): cli is the command, cluster the driver's Dask side, cell one cell."""
