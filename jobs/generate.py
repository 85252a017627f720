"""spark-submit entry point of the generate stage; arguments as for `sparkvalue generate`.

    spark-submit jobs/generate.py --env cluster ...
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
