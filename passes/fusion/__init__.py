"""Fusions (level O2): each rule set in its own file, replacing op chains by fused ops."""
