"""The ``qa`` command: index, ask, show, sources, serve, eval."""
