"""Masking of personal data in text the service stores (queries): e-mail addresses, phone numbers, card-like
numbers (Luhn-valid, 13-19 digits) and street addresses, Chinese and English."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
PHONE = re.compile(
    r"(?<!\d)(?:1[3-9]\d{9}|\+\d{1,3}[ -]?\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}|\(?\d{2,4}\)?[ -]\d{3,4}[ -]\d{4})(?!\d)"
)
PROVINCES = (
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|"
    "贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
ADDRESS_ZH = re.compile(
    rf"(?:(?:{PROVINCES})(?:省|市|自治区)?)?[\u4e00-\u9fff]{{0,4}}?(?:市|区|县)[\u4e00-\u9fff\d]{{0,12}}?"
    r"(?:路|街|道|巷|弄)[\d\-]+号?(?:[\d\-]+室)?"
)
ADDRESS_EN = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way)\b\.?"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def mask_pii(text: str) -> str:
    """The text with personal data replaced by [email], [card], [phone] and [address]."""
    text = EMAIL.sub("[email]", text)
    text = CARD.sub(lambda m: "[card]" if _luhn(re.sub(r"\D", "", m.group(0))) else m.group(0), text)
    text = PHONE.sub("[phone]", text)
    text = ADDRESS_ZH.sub("[address]", text)
    return ADDRESS_EN.sub("[address]", text)
