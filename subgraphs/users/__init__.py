"""The users subgraph: accounts, authentication and professional profiles."""
