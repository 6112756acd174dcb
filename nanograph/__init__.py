"""nanograph: a compiler and runtime for small neural networks (placeholder)."""
