// Must never run: a YAML config extending it is refused before loading it.
process.exit(9);
