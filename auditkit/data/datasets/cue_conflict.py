"""cue-conflict (Geirhos et al., ICLR 2019): 1280 style-transfer stimuli whose shape and texture
disagree; model-vs-human release v0.1, downloaded on first use when online."""

from auditkit.data.cue_conflict import fetch_cue_conflict, read_cue_conflict, release
from auditkit.data.entry import DatasetEntry

ENTRIES = (
    DatasetEntry(
        "cue-conflict", "cue-conflict", "<shape>/<shape><i>-<texture><j>.png (1280)",
        f"downloaded automatically when online, from {release().urls[0]}",
        license="model-vs-human release v0.1 (github.com/bethgelab/model-vs-human, MIT); images derived from ImageNet",
        reader=read_cue_conflict, fetch=fetch_cue_conflict,
        citation="""@inproceedings{geirhos2019imagenettrained,
  title = {{ImageNet}-trained {CNNs} are biased towards texture; increasing shape bias improves accuracy and robustness},
  author = {Geirhos, Robert and Rubisch, Patricia and Michaelis, Claudio and Bethge, Matthias and Wichmann, Felix A. and Brendel, Wieland},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2019}
}""",
        downloads=(release(),),
        notes="downloaded from model-vs-human release v0.1 when missing and online; no archive digest is "
              "published, so the 1280 unpacked stimuli are checked against their content digest, then moved into "
              "place atomically",
    ),
)
