"""Reusable constructs (L3). Named ``components`` so that the ``constructs``
dependency is never shadowed by a local package."""
