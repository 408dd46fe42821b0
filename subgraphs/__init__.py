"""The four Meetinity subgraphs: users, events, matching, messaging."""
