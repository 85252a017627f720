"""spark-submit entry point of the train stage; arguments as for `sparkvalue train`.

    spark-submit jobs/train.py --env cluster
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
