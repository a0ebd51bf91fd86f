"""Shipped test helpers: small synthetic worlds and conformance checks every model must pass."""
