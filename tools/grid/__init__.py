"""`python -m tools.grid`: a grid of DVC experiments on a Dask cluster (docs/grid.md): cli (the command),
cluster (the driver's Dask side), cell (one cell on a worker)."""
