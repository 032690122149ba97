"""One module per stack; ``app.py`` composes them from settings."""
