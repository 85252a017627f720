"""spark-submit entry point of the recommend stage; arguments as for `sparkvalue recommend`.

    spark-submit jobs/recommend.py --env cluster --month 2026-10
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["recommend", *sys.argv[1:]]))
