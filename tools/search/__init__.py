"""`python -m tools.search`: a validation-only search over the model space with Optuna (docs/search.md)."""
