"""spark-submit entry point of the monthly job; arguments as for `sparkvalue run`.

    spark-submit --py-files dist/sparkvalue.zip jobs/run.py --env cluster --all --train
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
