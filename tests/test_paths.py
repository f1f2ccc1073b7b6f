from imdb_rnn import paths


def test_a_run_is_named_as_dvc_names_its_stages():
    assert paths.run_name("lstm_manual", 3) == "lstm_manual-3"
    assert paths.model_file("gru", 0).as_posix() == "models/gru-0.pt"
    assert paths.test_metrics_file("gru", 0).as_posix() == "metrics/test/gru-0.json"
    assert paths.train_summary_file("rnn", 2).as_posix() == "metrics/train/rnn-2/metrics.json"
    assert paths.epoch_log_file("rnn", 2, "val", "acc").as_posix() == "metrics/train/rnn-2/plots/metrics/val/acc.tsv"


def test_every_path_is_relative_to_the_project():
    constants = [value for value in vars(paths).values() if isinstance(value, paths.Path)]
    assert constants and not any(path.is_absolute() for path in constants)
