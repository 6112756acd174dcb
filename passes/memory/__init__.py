"""Memory planning: lifetimes, in-place and view decisions, and arena offsets."""
