"""Ranking: scores from a trained model -> ranked item lists."""
