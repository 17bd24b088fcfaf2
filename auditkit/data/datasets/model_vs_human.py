"""model-vs-human's out-of-distribution datasets (Geirhos et al., NeurIPS 2021), release v0.1:
16 entries ``mvh-<name>``, generated from the benchmark's table (``auditkit.data.model_vs_human``).
Its seventeenth, cue-conflict, is the catalog's own ``cue-conflict`` entry."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.model_vs_human import BENCHMARK, RELEASE_URL, MvhDataset, read_model_vs_human
from auditkit.fetch import UNPUBLISHED, single_archive

CITATION = """@inproceedings{geirhos2021partial,
  title = {Partial success in closing the gap between human and machine vision},
  author = {Geirhos, Robert and Narayanappa, Kantharaju and Mitzkus, Benjamin and Thieringer, Tizian and Bethge, Matthias and Wichmann, Felix A. and Brendel, Wieland},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2021}
}"""


def _entry(dataset: MvhDataset) -> DatasetEntry:
    url = RELEASE_URL.format(name=dataset.name)
    layout = (f"{dataset.name}/dnn/session-1/<trial>_<code>_dnn_<condition>_<category>_<nn>_<image>.png"
              if dataset.sessions else f"{dataset.name}/<category>/<image>.png")
    return DatasetEntry(
        dataset.catalog_name, f"model-vs-human/{dataset.name}", layout,
        f"model-vs-human release v0.1: download {url} and unpack it there",
        license="model-vs-human release (github.com/bethgelab/model-vs-human, MIT); images derived from ImageNet",
        reader=partial(read_model_vs_human, name=dataset.name), citation=CITATION,
        downloads=(single_archive(dataset.catalog_name, f"model-vs-human/{dataset.name}", url, UNPUBLISHED, None,
                                  "model-vs-human release v0.1 (no digest published)"),),
        notes="condition and category from the file name",
    )


ENTRIES = tuple(_entry(d) for d in BENCHMARK if d.name != "cue-conflict")
