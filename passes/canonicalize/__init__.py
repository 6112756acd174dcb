"""Canonicalization (level O1): passes that simplify without changing what is computed."""
