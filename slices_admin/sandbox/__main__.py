"""`python -m slices_admin.sandbox --port 8765 --data var/sandbox.sqlite3 --api-key KEY`: run the sandbox.

`--api-key` may be left out when the KODEXA_API_KEY environment variable is set (keeping it off `ps`).
"""

import argparse
import os

from slices_admin.sandbox.cli import add_arguments, run


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m slices_admin.sandbox", description="Run the Kodexa sandbox API server."
    )
    add_arguments(parser, api_key=os.environ.get("KODEXA_API_KEY"))
    run(vars(parser.parse_args()))


if __name__ == "__main__":
    main()
