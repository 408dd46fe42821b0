"""What every Meetinity subgraph shares: settings, database, auth, event bus, logging."""
