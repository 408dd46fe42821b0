"""The messaging subgraph: conversations and live chat."""
