"""`thresholds.adaptive`: defaults, derived bounds, and located errors naming the field and the fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from liqbot.config import load_config
from liqbot.core.errors import ConfigError

MIN = """\
chains:
  - name: devnet
    chain_id: 31337
    rpc_http: ["http://127.0.0.1:8545"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), env={})
    return str(info.value)


def test_defaults_adapt_within_bounds_derived_from_the_static_values(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, MIN), env={})
    t = cfg.thresholds
    assert t.adaptive.enabled
    assert t.min_profit_bounds() == (Decimal(5), Decimal(50))
    assert t.gas_share_bounds() == (Decimal("0.2"), Decimal("0.6"))
    high = load_config(_write(tmp_path, 'thresholds: {priority_fee_profit_share: "0.5"}\n' + MIN), env={})
    assert high.thresholds.gas_share_bounds() == (Decimal("0.5"), Decimal(1)), "never above 1"


def test_explicit_bounds_and_settings(tmp_path: Path) -> None:
    text = (
        'thresholds:\n  min_profit_usd: "5"\n  adaptive:\n    min_profit_usd_bounds: ["2.5", "40"]\n'
        "    priority_fee_profit_share_bounds: [0.1, 0.9]\n    min_sample: 5\n    window_attempts: 5\n"
    )
    cfg = load_config(_write(tmp_path, text + MIN), env={})
    t = cfg.thresholds
    assert t.min_profit_bounds() == (Decimal("2.5"), Decimal(40))
    assert t.gas_share_bounds() == (Decimal("0.1"), Decimal("0.9"))
    assert t.adaptive.min_sample == 5


# (yaml, line, path, hint)
BROKEN = [
    ('thresholds:\n  adaptive:\n    min_profit_usd_bounds: ["50", "2"]\n', 3,
     "thresholds.adaptive.min_profit_usd_bounds", "swap them"),
    ('thresholds:\n  min_profit_usd: "100"\n  adaptive:\n    min_profit_usd_bounds: ["2", "50"]\n', 4,
     "thresholds.adaptive.min_profit_usd_bounds", 'must contain the static thresholds.min_profit_usd (100), '
     'the fallback value; e.g. ["2", "100"]'),
    ('thresholds:\n  adaptive:\n    priority_fee_profit_share_bounds: ["0.3", "0.5"]\n', 3,
     "thresholds.adaptive.priority_fee_profit_share_bounds", "priority_fee_profit_share (0.2)"),
    ('thresholds:\n  adaptive:\n    priority_fee_profit_share_bounds: ["0.1", "1.5"]\n', 3,
     "thresholds.adaptive.priority_fee_profit_share_bounds[1]", "<= 1"),
    ("thresholds:\n  adaptive:\n    min_sample: 80\n", 3, "thresholds.adaptive.min_sample",
     "use at most 50"),
    ("thresholds:\n  adaptive:\n    min_sampel: 8\n", 3, "thresholds.adaptive.min_sampel", "min_sample"),
    ('thresholds:\n  adaptive:\n    min_profit_step_usd: "0"\n', 3, "thresholds.adaptive.min_profit_step_usd",
     "> 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "path", "hint"), BROKEN, ids=[b[2] + str(i) for i, b in enumerate(BROKEN)]
)
def test_broken_adaptive_config_names_line_field_and_fix(
    tmp_path: Path, text: str, line: int, path: str, hint: str
) -> None:
    message = _error(tmp_path, text + MIN)
    matching = [x for x in message.splitlines() if f"line {line}, {path}:" in x]
    assert matching, message
    assert any(hint in x for x in matching), message
