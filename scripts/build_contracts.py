"""Rebuild the executor contract's committed artifact with the pinned npm solc.

Writes contracts/build/LiqExecutor.json and its package copy src/liqbot/contracts/build/LiqExecutor.json
(identical bytes). tests/integration/test_executor_build.py fails when these are stale.
Run: .venv/bin/python scripts/build_contracts.py
"""

from __future__ import annotations

import json
from pathlib import Path

from liqbot.harness.devnet.executor import CONTRACT, build_executor_artifact

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = (ROOT / "contracts" / "build", ROOT / "src" / "liqbot" / "contracts" / "build")


def render(artifact: dict[str, object]) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def main() -> None:
    text = render(build_executor_artifact(ROOT / "contracts"))
    for out in OUTPUTS:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{CONTRACT}.json").write_text(text)
        print(f"wrote {out / f'{CONTRACT}.json'}")


if __name__ == "__main__":
    main()
