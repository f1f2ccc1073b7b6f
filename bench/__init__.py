"""Measurements of the project's code and statistics, run as modules from the project root (`python -m bench.speed`)."""
