"""Render the raw data contract as Markdown (`sparkvalue docs` writes docs/data-contract.md)."""

from __future__ import annotations

from pathlib import Path

from sparkvalue.contract.raw import RAW_TABLES

HEADER = """# Raw data contract

Generated from `src/sparkvalue/contract/raw.py` by `sparkvalue docs`; do not edit by hand
(a test fails when this file and the code disagree).

Monthly extracts land as CSV (header row, `,` separator, UTF-8, dates `yyyy-MM-dd`,
booleans `true`/`false`, empty = null) or Parquet, one folder per table and month:
`<landing>/<table>/extract=<yyyy-MM>/*.csv`. Money is in yuan, durations in minutes,
data volume in MB. Subscriber numbers arrive in clear and are pseudonymised at ingest
(keyed SHA-256, see `privacy` in `conf/base.yaml`); bronze tables hold only pseudonyms.

Ingest checks every row: required fields present, types parse, values allowed and in
range, the row belongs to the extract's month, the table's own rules, the key is unique
(identical copies keep one; conflicting copies are all rejected), and references point to
a subscriber (or group) of the same month. Rejected rows go to `bronze/quarantine` with
the file, the rule and the original record; good rows go to `bronze/<table>`, partitioned
by `month`. A file without a required column stops the run before anything is written.
"""


def render() -> str:
    lines = [HEADER]
    for spec in RAW_TABLES.values():
        lines.append(f"\n## `{spec.name}`\n")
        lines.append(f"{spec.description}\n")
        lines.append(f"- grain: {spec.grain}")
        lines.append(f"- key: {', '.join(f'`{k}`' for k in spec.key)}")
        lines.append(f"- month of the row: `{spec.month_from}`")
        for ref in spec.references:
            cond = f" where `{ref.when}`" if ref.when else ""
            lines.append(f"- reference: `{ref.column}` -> `{ref.table}.{ref.target_column}`"
                         f" of the same month{cond}")
        for name, condition in spec.checks:
            lines.append(f"- rule `{name}`: `{condition}`")
        lines.append("")
        lines.append("| column | type | required | unit | allowed values / range | meaning |")
        lines.append("|---|---|---|---|---|---|")
        for f in spec.fields:
            lines.append(f"| `{f.name}` | {f.dtype} | {'yes' if f.required else 'no'} | "
                         f"{f.unit} | {f.rules_text()} | {f.description} |")
    return "\n".join(lines) + "\n"


def write_contract_doc(root: str) -> str:
    path = Path(root) / "docs" / "data-contract.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return str(path)
