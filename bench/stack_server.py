"""A private stack for a benchmark, run from whichever checkout this file sits in.

Prints one JSON line describing the stack (URLs, database, signing key, process ids),
then keeps it running until its standard input closes. `bench.load.Stacks` starts one
from this checkout and, to compare before and after in one run, one from a baseline
checkout (it copies this file there), so both see the same machine at the same time.

    python -m bench.stack_server [KEY=VALUE ...]   # extra environment for the services
"""

import json
import sys
import tempfile
from pathlib import Path

# Only what every checkout since the first benchmark has, so a baseline can run it.
from tests.support.environment import (
    StackEnvironment,
    create_environment,
    destroy_environment,
    running_stack,
)
from tools.stack import Stack


def main() -> None:
    extra = dict(argument.split("=", 1) for argument in sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        environment = create_environment(Path(tmp))
        environment.config.env.update(extra)
        try:
            for stack in running_stack(environment):
                describe(environment, stack)
                sys.stdin.read()
        finally:
            destroy_environment(environment)


def describe(environment: StackEnvironment, stack: Stack) -> None:
    config = environment.config
    description = {
        "router_url": environment.router_url,
        "urls": {name: config.url(name) for name in config.ports},
        "database_url": config.database_url,
        "jwt_private_key_file": str(config.jwt_private_key_file),
        "pids": {process.name: process.popen.pid for process in stack.processes},
    }
    print(json.dumps(description), flush=True)


if __name__ == "__main__":
    main()
