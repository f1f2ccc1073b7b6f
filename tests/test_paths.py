"""paths.py: where each file goes is checked against dvc.yaml (tests/test_dvc_yaml.py); here, that it is portable."""

from imdb_rnn.core import paths


def test_every_path_is_relative_to_the_project():
    constants = [value for value in vars(paths).values() if isinstance(value, paths.Path)]
    assert constants and not any(path.is_absolute() for path in constants)
