"""The README's Python example runs as written (on the real data)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_python_blocks_in_readme_run() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README lost its Python example"
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, "README.md", "exec"), namespace)
        assert "split" in namespace
