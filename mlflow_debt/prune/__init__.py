"""Version limits: planning (pure), registry reads, deletion, audit trail, policies."""
