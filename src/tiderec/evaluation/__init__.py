"""Evaluation: models side by side on one split, both scorings, reports."""
