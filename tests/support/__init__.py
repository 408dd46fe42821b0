"""What the tests share: a private stack per run, and clients that talk to it like the app does."""
