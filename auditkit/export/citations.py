"""``CITATIONS.bib``: every dataset and method the exported results rest on.

Chosen from the records: the datasets they rest on (each catalog entry's own BibTeX,
``auditkit.data.catalog.citation``), each suite's own protocol (``Suite.citations``: the suite
holds its BibTeX, the exporter knows no suite), the paired tests when the export is of a
comparison, and always the paper whose protocol auditkit follows and ImageNet (every model
audited is an ImageNet model). A dataset or a suite with no citation is listed in a comment.
"""

from __future__ import annotations

import re

from auditkit.compare.comparison import suite_for
from auditkit.data.catalog import citation
from auditkit.export.source import ExportSource

PAPER = """@inproceedings{vishniakov2024convnet,
  title = {ConvNet vs Transformer, Supervised vs {CLIP}: Beyond {ImageNet} Accuracy},
  author = {Vishniakov, Kirill and Shen, Zhiqiang and Liu, Zhuang},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2024},
  eprint = {2311.09215},
  archivePrefix = {arXiv}
}"""

METHODS: dict[str, str] = {  # the statistics every export, or a comparison's, rests on
    "bootstrap": """@book{efron1993introduction,
  title = {An Introduction to the Bootstrap},
  author = {Efron, Bradley and Tibshirani, Robert J.},
  publisher = {Chapman \\& Hall},
  year = {1993}
}""",
    "mcnemar": """@article{mcnemar1947note,
  title = {Note on the sampling error of the difference between correlated proportions or percentages},
  author = {McNemar, Quinn},
  journal = {Psychometrika},
  volume = {12},
  number = {2},
  pages = {153--157},
  year = {1947}
}""",
    "holm": """@article{holm1979simple,
  title = {A Simple Sequentially Rejective Multiple Test Procedure},
  author = {Holm, Sture},
  journal = {Scandinavian Journal of Statistics},
  volume = {6},
  number = {2},
  pages = {65--70},
  year = {1979}
}""",
}


def bibliography(source: ExportSource) -> str:
    wanted = ["paper", "imagenet-val", "bootstrap"]  # every record rests on ImageNet models and bootstrap CIs
    unknown = []
    for r in source.records:
        wanted.append(r.dataset)
    if source.tests:
        wanted += ["mcnemar", "holm"]
    entries: list[str] = []
    for name in dict.fromkeys(wanted):
        entry = PAPER if name == "paper" else METHODS.get(name) or citation(name)
        if entry is not None:
            entries.append(entry)
        elif any(r.dataset == name and not suite_for(r.suite).citations for r in source.records):
            unknown.append(name)  # a dataset no entry and none of its suites' citations cover
    for suite in dict.fromkeys(r.suite for r in source.records):
        citations = suite_for(suite).citations
        entries.extend(citations)
        if not citations:
            unknown.append(suite)
    unique: dict[str, str] = {}
    for entry in entries:
        key = re.match(r"@\w+\{([^,]+),", entry)
        unique.setdefault(key.group(1) if key else entry, entry)
    header = "% CITATIONS.bib written by `audit export`: the datasets and methods these results rest on.\n"
    if unknown:
        header += f"% no entry known for: {', '.join(unknown)} (add Suite.citations, or the dataset entry's citation)\n"
    return header + "\n\n".join(unique.values()) + "\n"
