from imdb_rnn.core.common import run_stage
from tools.grid.cli import main

if __name__ == "__main__":
    run_stage(main)
