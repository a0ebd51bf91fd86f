"""LoRA and the trainable text tower: tuning starts exactly at the pretrained model, only the low-rank weights
learn, and a tuned interest model folds its tower into plain item vectors (same saved format as a frozen one)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from tiderec.models.interest import InterestConfig, InterestModel
from tiderec.models.lora import LoRALinear, add_lora
from tiderec.models.text_tower import TextTower
from tiderec.testing.conformance import check_sequence_model

N = 12


def tiny_bert() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    bert = BertModel(config, add_pooling_layer=False)
    nn.Module.train(bert, False)
    return bert


def tokens(n: int = N, empty: tuple[int, ...] = (3,)) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids int64[n, 6] ([CLS]=1 ... [SEP]=2); rows in `empty` hold only [CLS] [SEP] (no text)."""
    gen = torch.Generator().manual_seed(1)
    ids = torch.zeros(n, 6, dtype=torch.long)
    mask = torch.zeros(n, 6, dtype=torch.long)
    for row in range(n):
        length = 2 if row in empty else int(torch.randint(3, 7, (1,), generator=gen))
        ids[row, :length] = torch.randint(3, 40, (length,), generator=gen)
        ids[row, 0], ids[row, length - 1] = 1, 2
        mask[row, :length] = 1
    return ids, mask


def tower() -> TextTower:
    ids, mask = tokens()
    return TextTower(tiny_bert(), ids, mask, rank=4, alpha=8.0)


def test_lora_linear_starts_at_the_base_layer_and_learns_only_its_low_rank_weights() -> None:
    base = nn.Linear(8, 6)
    layer = LoRALinear(base, rank=2, alpha=4.0)
    x = torch.randn(5, 8)
    assert torch.equal(layer(x), base(x))
    layer(x).sum().backward()
    assert base.weight.grad is None
    assert layer.lora_a.grad is not None
    assert layer.lora_b.grad is not None
    with torch.no_grad():
        layer.lora_b.fill_(0.1)
    expected = base(x) + 2.0 * (x @ layer.lora_a.T @ layer.lora_b.T)
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_add_lora_freezes_the_model_and_wraps_the_named_layers() -> None:
    bert = tiny_bert()
    params = add_lora(bert, ("query", "value"), rank=4, alpha=8.0)
    assert len(params) == 2 * 2 * 2  # 2 layers x (query, value) x (A, B)
    trainable = [p for p in bert.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in params}
    with pytest.raises(ValueError, match="no linear layer"):
        add_lora(tiny_bert(), ("nothing",), rank=4, alpha=8.0)


def test_text_tower_mean_pools_unit_vectors_with_zero_rows_for_pad_and_empty_texts() -> None:
    model = tower()
    ids, mask = tokens()
    with torch.no_grad():
        out = model(torch.tensor([[0, 1, 4], [5, 1, 12]]))  # item ids + 1
        bert = tiny_bert()
        hidden = bert(input_ids=ids[[0, 4]], attention_mask=mask[[0, 4]]).last_hidden_state
    assert out.shape == (2, 3, 16)
    assert torch.count_nonzero(out[0, 0]) == 0  # pad
    assert torch.count_nonzero(out[0, 2]) == 0  # item 3 has no text
    assert torch.allclose(out[0, 1], out[1, 1])
    assert torch.allclose(out[1, 1].norm(), torch.tensor(1.0))
    weights = mask[[0, 4], :, None].float()
    pooled = torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)
    assert torch.allclose(out[0, 1], pooled[0], atol=1e-5)
    assert torch.allclose(out[1, 0], pooled[1], atol=1e-5)


def tuned_model() -> InterestModel:
    with torch.no_grad():
        vectors = tower()(torch.arange(1, N + 1))  # what a vector store would hold for these texts
    config = InterestConfig(dim=16, inner=32, text_tuning="lora")
    return InterestModel(N, 8, config, vectors, text_tower=tower())


def test_a_tuned_model_trains_its_lora_weights_and_folds_them_into_item_vectors() -> None:
    model = tuned_model()
    check_sequence_model(model, N)
    assert model.text_tower is not None
    lora = model.text_tower.trainable
    items = torch.randint(1, N + 1, (4, 8))
    zeros = torch.zeros_like(items)
    model.train()
    states = model(items, zeros, zeros, zeros)
    loss: torch.Tensor = model.scores(states, items, items > 0).logsumexp(dim=1).sum()
    loss.backward()  # type: ignore[no-untyped-call]
    assert all(p.grad is not None for p in lora)
    assert all(p.grad is None for n, p in model.text_tower.encoder.named_parameters() if "lora" not in n)
    with torch.no_grad():
        for p in lora:
            p.add_(0.05)
        model.eval()
        tuned = model.text_tower(torch.arange(N + 1))
        before = model.item_table()
    model.finish()
    assert "text_tower" not in dict(model.named_children())
    assert torch.allclose(model.get_buffer("item_vectors"), tuned)
    assert torch.allclose(model.item_table(), before, atol=1e-6)
    frozen = InterestModel(N, 8, InterestConfig(dim=16, inner=32), tuned[1:])
    assert model.state_dict().keys() == frozen.state_dict().keys()
