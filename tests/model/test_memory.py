"""The memory budget: size parsing, the default, early failures naming the op and the size
(in the integer forward, the float forward, quantization and calibration)."""
import numpy as np
import pytest

from snarkgpt.model import memory
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.memory import (MemoryBudget, MemoryBudgetError, budget_scope, check_alloc,
                                   format_size, parse_size, resident_bytes)


@pytest.mark.parametrize("text,n", [("12G", 12 << 30), ("512M", 512 << 20), ("1.5G", 3 << 29),
                                    ("4096", 4096), ("64k", 64 << 10), ("2GB", 2 << 30),
                                    ("2 GiB", 2 << 30), ("1T", 1 << 40), (1000, 1000)])
def test_parse_size(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("bad", ["", "12X", "G", "-1G", "0", "1.2.3G", True, "twelve"])
def test_parse_size_rejects(bad):
    with pytest.raises(MemoryBudgetError):
        parse_size(bad)
    assert issubclass(MemoryBudgetError, ValueError)


def test_format_size():
    assert format_size(512) == "512 B"
    assert format_size(16 * 50257 * 8) == "6.1 MiB"
    assert format_size(12 << 30) == "12.0 GiB"


def test_default_budget(monkeypatch):
    monkeypatch.setenv(memory.ENV_VAR, "3G")
    assert MemoryBudget().limit == 3 << 30
    monkeypatch.setenv(memory.ENV_VAR, "lots")
    with pytest.raises(MemoryBudgetError, match=memory.ENV_VAR):
        MemoryBudget()
    monkeypatch.delenv(memory.ENV_VAR)
    avail = memory.available_bytes()
    if avail is not None:       # 75% of what the machine can give this process
        assert MemoryBudget().limit <= 0.75 * (avail + resident_bytes()) + (64 << 20)
        assert MemoryBudget().limit > resident_bytes()


def test_check_names_op_and_size():
    b = MemoryBudget(resident_bytes() + (100 << 20))
    assert b.check("small", (1000, 1000), np.int64) == 8_000_000
    with pytest.raises(MemoryBudgetError) as e:
        b.check("lm_head logits", (16000, 50257), np.int64)
    msg = str(e.value)
    assert msg.startswith("lm_head logits: 16000 x 50257 int64 = 6.0 GiB")
    assert "exceeds the memory budget" in msg and "--memory-budget" in msg
    with pytest.raises(MemoryBudgetError, match=r"scores: 3 x \(12 x 1024 x 1024\) float64"):
        b.check("scores", (12, 1024, 1024), np.float64, count=3)
    assert MemoryBudget(1).check("tiny", (10,), np.int64) == 80    # below min_checked


def test_scope_and_check_alloc():
    old = memory.current_budget()
    with budget_scope(resident_bytes() + (10 << 20)) as b:
        assert memory.current_budget() is b
        with pytest.raises(MemoryBudgetError, match="x: 4096 x 4096 float64"):
            check_alloc("x", (4096, 4096), np.float64)
    assert memory.current_budget() is old


@pytest.fixture(scope="module")
def wide_model():
    from snarkgpt.model.quantize import random_float_model
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=64, vocab_size=40000)
    return random_float_model(cfg, seed=0, std=0.05)


def test_forward_quantize_and_calibration_fail_early(wide_model):
    """Under a budget just above what the process holds, the large arrays are refused by
    name before they are made (vocabulary-sized logits and weights)."""
    from snarkgpt.model.float_forward import forward
    from snarkgpt.model.integer_forward import integer_forward
    from snarkgpt.model.quantize import calibrate, default_settings, quantize_model
    st = default_settings(wide_model.config)
    qm = quantize_model(wide_model, st)
    tight = resident_bytes() + (2 << 20)
    with budget_scope(tight):
        with pytest.raises(MemoryBudgetError, match="lm_head"):
            integer_forward(qm, np.arange(60))
        with pytest.raises(MemoryBudgetError, match="quantize"):
            quantize_model(wide_model, st)
        with pytest.raises(MemoryBudgetError, match="float forward"):
            forward(wide_model, np.arange(60))
        with pytest.raises(MemoryBudgetError, match="float"):
            calibrate(wide_model, max_tokens=60)
