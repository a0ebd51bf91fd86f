from __future__ import annotations

from tiderec.query.compare import comparison


def test_products_and_aspects_of_comparison_questions() -> None:
    c = comparison("Which laptop has better battery life: the Dell XPS 13 or the MacBook Air M2?")
    assert (c.subject, c.objects) == ("Dell XPS 13", ["MacBook Air M2"])
    assert c.aspects == ["battery life"]
    c = comparison("Is the Kindle Paperwhite better than the Kobo Clara in terms of screen quality and price?")
    assert (c.subject, c.objects) == ("Kindle Paperwhite", ["Kobo Clara"])
    assert c.aspects == ["screen quality", "price"]
    assert comparison("which one is better?").subject is None
