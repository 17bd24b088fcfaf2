"""``CITATIONS.bib``: every dataset and method the exported results rest on.

Chosen from the records: the datasets they rest on (``ENTRIES``), each suite's own protocol
(``Suite.citations``: the suite holds its BibTeX, the exporter knows no suite), the paired tests
when the export is of a comparison, and always the paper whose protocol auditkit follows. A
dataset with no known entry, or a suite without citations, is listed in a comment.
"""

from __future__ import annotations

import re

from auditkit.compare.comparison import suite_for
from auditkit.export.source import ExportSource

PAPER = """@inproceedings{vishniakov2024convnet,
  title = {ConvNet vs Transformer, Supervised vs {CLIP}: Beyond {ImageNet} Accuracy},
  author = {Vishniakov, Kirill and Shen, Zhiqiang and Liu, Zhuang},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2024},
  eprint = {2311.09215},
  archivePrefix = {arXiv}
}"""

IMAGENET = """@article{russakovsky2015imagenet,
  title = {{ImageNet} Large Scale Visual Recognition Challenge},
  author = {Russakovsky, Olga and Deng, Jia and Su, Hao and Krause, Jonathan and Satheesh, Sanjeev and Ma, Sean and Huang, Zhiheng and Karpathy, Andrej and Khosla, Aditya and Bernstein, Michael and Berg, Alexander C. and Fei-Fei, Li},
  journal = {International Journal of Computer Vision},
  volume = {115},
  number = {3},
  pages = {211--252},
  year = {2015}
}"""

ENTRIES: dict[str, str] = {
    "imagenet-r": """@inproceedings{hendrycks2021many,
  title = {The Many Faces of Robustness: A Critical Analysis of Out-of-Distribution Generalization},
  author = {Hendrycks, Dan and Basart, Steven and Mu, Norman and Kadavath, Saurav and Wang, Frank and Dorundo, Evan and Desai, Rahul and Zhu, Tyler and Parajuli, Samyak and Guo, Mike and Song, Dawn and Steinhardt, Jacob and Gilmer, Justin},
  booktitle = {International Conference on Computer Vision (ICCV)},
  year = {2021}
}""",
    "imagenet-a": """@inproceedings{hendrycks2021natural,
  title = {Natural Adversarial Examples},
  author = {Hendrycks, Dan and Zhao, Kevin and Basart, Steven and Steinhardt, Jacob and Song, Dawn},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2021}
}""",
    "imagenet-v2": """@inproceedings{recht2019imagenet,
  title = {Do {ImageNet} Classifiers Generalize to {ImageNet}?},
  author = {Recht, Benjamin and Roelofs, Rebecca and Schmidt, Ludwig and Shankar, Vaishaal},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2019}
}""",
    "imagenet-sketch": """@inproceedings{wang2019learning,
  title = {Learning Robust Global Representations by Penalizing Local Predictive Power},
  author = {Wang, Haohan and Ge, Songwei and Lipton, Zachary and Xing, Eric P.},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2019}
}""",
    "imagenet-c": """@inproceedings{hendrycks2019benchmarking,
  title = {Benchmarking Neural Network Robustness to Common Corruptions and Perturbations},
  author = {Hendrycks, Dan and Dietterich, Thomas},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2019}
}""",
    "imagenet-real": """@article{beyer2020are,
  title = {Are we done with {ImageNet}?},
  author = {Beyer, Lucas and H{\\'e}naff, Olivier J. and Kolesnikov, Alexander and Zhai, Xiaohua and van den Oord, A{\\"a}ron},
  journal = {arXiv preprint arXiv:2006.07159},
  year = {2020}
}""",
    "imagenet-hard": """@inproceedings{taesiri2023imagenet,
  title = {{ImageNet-Hard}: The Hardest Images Remaining from a Study of the Power of Zoom and Spatial Biases in Image Classification},
  author = {Taesiri, Mohammad Reza and Nguyen, Giang and Habchi, Sarra and Bezemer, Cor-Paul and Nguyen, Anh},
  booktitle = {Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  year = {2023}
}""",
    "cue-conflict": """@inproceedings{geirhos2019imagenettrained,
  title = {{ImageNet}-trained {CNNs} are biased towards texture; increasing shape bias improves accuracy and robustness},
  author = {Geirhos, Robert and Rubisch, Patricia and Michaelis, Claudio and Bethge, Matthias and Wichmann, Felix A. and Brendel, Wieland},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2019}
}""",
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
ENTRIES["imagenet-val"] = IMAGENET


def bibliography(source: ExportSource) -> str:
    wanted = ["paper", "imagenet-val", "bootstrap"]  # every record rests on ImageNet models and bootstrap CIs
    unknown = []
    for r in source.records:
        wanted.append(r.dataset)
    if source.tests:
        wanted += ["mcnemar", "holm"]
    entries: list[str] = []
    for name in dict.fromkeys(wanted):
        entry = PAPER if name == "paper" else ENTRIES.get(name)
        if entry is not None:
            entries.append(entry)
        elif any(r.dataset == name and not suite_for(r.suite).citations for r in source.records):
            unknown.append(name)  # a dataset no entry and none of its suites' citations cover
    for suite in dict.fromkeys(r.suite for r in source.records):
        citations = suite_for(suite).citations
        entries.extend(citations)
        if not citations and suite != "invariance":  # invariance follows the paper itself, always cited
            unknown.append(suite)
    unique: dict[str, str] = {}
    for entry in entries:
        key = re.match(r"@\w+\{([^,]+),", entry)
        unique.setdefault(key.group(1) if key else entry, entry)
    header = "% CITATIONS.bib written by `audit export`: the datasets and methods these results rest on.\n"
    if unknown:
        header += f"% no entry known for: {', '.join(unknown)} (add Suite.citations)\n"
    return header + "\n\n".join(unique.values()) + "\n"
