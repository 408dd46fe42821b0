"""The matching subgraph: who is worth meeting, and why."""
