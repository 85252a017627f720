"""spark-submit entry point of the score stage; arguments as for `sparkvalue score`.

    spark-submit jobs/score.py --env cluster --month 2026-10
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
