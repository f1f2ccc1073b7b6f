from imdb_rnn.core.common import run_stage
from tools.search.cli import main

run_stage(main)
