"""``python -m auditkit.data.datasets``: rewrite docs/datasets.md's dataset table from the entries."""

import sys

from auditkit.data.catalog import write_docs_table

print(f"wrote the dataset table of {write_docs_table()}", file=sys.stderr)
