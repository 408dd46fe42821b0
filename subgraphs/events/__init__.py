"""The events subgraph: events, registrations, seats and waitlists."""
