"""The intent rules (understand.decide) on hand-made classifier outputs: conservative where the pools showed the
rules before wrong (bare wants, comparisons without comparison words, confident labels, negations in reviews), and
still turning the suite's purchase requests into searches."""

from __future__ import annotations

import pytest

from tiderec.query.entities import Entity
from tiderec.query.intent import UNCERTAIN, Intent
from tiderec.query.understand import IntentRules, decide


def _intent(label: str, confidence: float) -> Intent:
    return Intent(label, confidence, {label: confidence})


@pytest.mark.parametrize(
    ("label", "confidence", "text", "price", "negated", "want"),
    [
        ("support", 0.99, "I need help editing my shipping address", False, False, "support"),
        ("support", 0.7, "I need help editing my shipping address", False, False, "support"),
        ("other", 0.8, "i want to know how to change oil", False, False, "other"),
        ("other", 0.8, "我要看西游记啊", False, False, "other"),
        ("compare", 0.97, "How much worse is Oppo Find X3 Pro than the iPhone 13?", False, False, "compare"),
        ("compare", 0.7, "How much worse is Oppo Find X3 Pro than the iPhone 13?", False, False, "compare"),
        ("review", 0.8, "苹果可不咋地 不要标是天水的", False, True, "review"),
        ("review", 0.99, "我想买一个空气炸锅,预算300,不要白色的", True, True, "review"),
        ("review", 0.6, "我想买一个空气炸锅,预算300,不要白色的", True, True, "search"),
        ("support", 0.6, "I need a desk lamp, nothing plastic", False, True, "search"),
        ("support", 0.6, "我要一个台灯,不需要充电的", False, True, "search"),
        ("compare", 0.7, "想换个手机 预算4000以下 不要苹果", True, True, "search"),
        ("other", 0.6, "candle holder under 5 pounds, not red", True, True, "search"),
        ("search", 0.9, "compare dyson v15 and shark stratos vacuums", False, False, "compare"),
        ("other", 0.9, "what's trending in home decor", False, False, "browse"),
    ],
)
def test_rules_move_only_unsure_purchase_requests(
    label: str, confidence: float, text: str, price: bool, negated: bool, want: str
) -> None:
    got, rule = decide(_intent(label, confidence), text, price, negated, [])
    assert got == want
    assert (rule is None) == (got == label)


def test_a_negation_counts_beside_a_named_product_and_an_uncertain_product_is_a_search() -> None:
    shoe = [Entity("拖鞋", "product", 3, 5)]
    assert decide(_intent("review", 0.6), "想换双拖鞋,不要粉色", False, True, shoe) == ("search", "constraints")
    assert decide(_intent("review", 0.6), "想换双拖鞋,不要粉色", False, True, []) == ("review", None)
    assert decide(_intent(UNCERTAIN, 0.4), "猫粮 成猫", False, False, shoe) == ("search", "product named")
    assert decide(_intent(UNCERTAIN, 0.4), "猫粮 成猫", False, False, []) == (UNCERTAIN, None)


def test_the_rules_before_are_a_variant_and_unknown_settings_are_rejected() -> None:
    before = IntentRules("broad", "price|negation", "always", None)
    assert decide(_intent("support", 0.99), "I need help editing my address", False, False, [], before)[0] == "search"
    assert decide(_intent("compare", 0.99), "How good is iPhone X than Galaxy S9?", False, False, [], before)[0] == (
        "search"
    )
    with pytest.raises(ValueError, match="valid: verbs, verbs\\+item, broad"):
        IntentRules(cues="everything")
