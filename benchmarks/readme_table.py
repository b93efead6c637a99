"""Regenerate the README's results table from ``benchmarks/results/*.json``.

Every check of every benchmark becomes a row: benchmark, check, measured value, target, whether
it passes, and the command that measured it. Run: ``python benchmarks/readme_table.py``.
"""

from __future__ import annotations

import json
import operator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
       "==": operator.eq}


def rows() -> list[str]:
    out = ["| benchmark | check | value | target | ok | machine | command |",
           "|---|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        machine = result.get("machine", {})
        where = machine.get("gpu") or f"{machine.get('cores', '?')} CPU cores"
        for check in result.get("checks", []):
            ok = OPS[check["op"]](check["value"], check["target"])
            out.append(f"| {result['benchmark']} | {check['name']} | {check['value']:.4g} | "
                       f"{check['op']} {check['target']:g} | {'yes' if ok else '**no**'} | "
                       f"{where} | `{check.get('command', result['command'])}` |")
    return out


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + START + "\n" + "\n".join(rows()) + "\n" + END + tail)


if __name__ == "__main__":
    main()
