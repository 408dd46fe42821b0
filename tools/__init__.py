"""Developer and operator commands: `python -m tools --help`."""
