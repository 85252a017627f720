"""spark-submit entry point of the evaluate stage; arguments as for `sparkvalue evaluate`.

    spark-submit jobs/evaluate.py --env cluster --month 2026-10
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
