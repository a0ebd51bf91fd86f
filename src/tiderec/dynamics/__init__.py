"""Interest dynamics: the interest space, migration detection, timelines, trends and short-term prediction."""
