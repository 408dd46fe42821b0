from tools.cli import cli

# Guarded: worker processes (spawned by the full recompute) import this module again.
if __name__ == "__main__":
    cli()
