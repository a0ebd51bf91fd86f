"""Exploration after scoring: policies that turn a scored candidate list into a served `ItemList`, each shown
item with its propensity, seeded per request so that every list can be replayed and evaluated off-policy."""
