"""Many communes on one deployment: the registry (communes table), per-commune tokens and clients, the CLI."""
