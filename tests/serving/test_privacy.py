from __future__ import annotations

import pytest

from tiderec.serving.privacy import mask_pii

CASES = [
    ("contact me at jane.doe+shop@example.co.uk please", "contact me at [email] please"),
    ("我的手机号是13812345678，谢谢", "我的手机号是[phone]，谢谢"),
    ("call +1 415-555-0132 tomorrow", "call [phone] tomorrow"),
    ("card 4111 1111 1111 1111 was charged", "card [card] was charged"),
    ("请寄到浙江省杭州市西湖区文三路90号", "请寄到[address]"),
    ("ship to 221 Baker Street, London", "ship to [address], London"),
    ("running shoes under 500 size 42", "running shoes under 500 size 42"),
    ("order 1234567890123 status", "order 1234567890123 status"),
]


@pytest.mark.parametrize(("text", "masked"), CASES)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
