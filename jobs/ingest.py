"""spark-submit entry point of the ingest stage; arguments as for `sparkvalue ingest`.

    spark-submit jobs/ingest.py --env cluster ...
"""

import sys

from sparkvalue.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
