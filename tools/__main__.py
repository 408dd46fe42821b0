from tools.cli import cli

cli()
