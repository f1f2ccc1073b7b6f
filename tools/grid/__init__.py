"""`python -m tools.grid`: a grid of DVC experiments on a Dask cluster (docs/grid.md), one module per job.

cli         the command line and the order of things
plan        the cells (the product of the -S sweeps), their names, their validation at --rev
validator   the script that validates the cells in a checkout of --rev, with that commit's code
preflight   the checks before any cell starts, on the driver and on every worker
cluster     Dask: connecting, sending the cells' code by value, running the cells, stopping them
cell        one cell on a worker: clone, `dvc exp run`, push, with timeouts and retries
supervisor  the script that runs each command of a cell in a process group that dies with the cell
landing     the remote refs: who landed a cell, pulling the refs and reading their metrics
progress    the live display while the grid runs
summary     the table, the logs and the failures at the end
"""
