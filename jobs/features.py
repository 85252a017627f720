"""spark-submit entry point of the features stage; arguments as for `sparkvalue features`.

    spark-submit jobs/features.py --env cluster --month 2026-10
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
