"""A private stack for a benchmark, run from whichever checkout this file sits in.

Prints one JSON line describing the stack (URLs, database, signing key, process ids),
then keeps it running until its standard input closes. `bench.load.Stacks` starts one
from this checkout and, to compare before and after in one run, one from a baseline
checkout (it copies this file there), so both see the same machine at the same time.

    python -m bench.stack_server [KEY=VALUE ...]   # extra environment for the services
"""

import json
import os
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
    control = private_stdin()
    with tempfile.TemporaryDirectory() as tmp:
        environment = create_environment(Path(tmp), traced=False)
        environment.config.env.update(extra)
        try:
            for stack in running_stack(environment):
                describe(environment, stack)
                while os.read(control, 4096):  # until the caller closes the pipe
                    pass
        finally:
            destroy_environment(environment)


def private_stdin() -> int:
    """The caller's pipe, kept from the stack's processes: they get /dev/null instead.

    The router (Node) puts an inherited standard input into non-blocking mode, a flag
    shared by every process holding that pipe; reading it here then fails at once
    instead of waiting for the caller to close it.
    """
    control = os.dup(sys.stdin.fileno())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, sys.stdin.fileno())
    os.close(devnull)
    return control


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
