"""The planned NumPy executor: a graph compiled once into steps writing into one arena."""
