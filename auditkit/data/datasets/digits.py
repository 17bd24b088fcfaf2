"""digits: scikit-learn's ``load_digits`` (1797 real 8x8 scans of handwritten digits, the UCI
optical recognition test set), exported on first use: the offline transfer task."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.transfer import export_digits, read_digits

ENTRIES = (
    DatasetEntry(
        "digits", "digits", "train|val|test/<digit>/digits-<i>.png (1797 8x8 scans)",
        "built in: exported from scikit-learn's load_digits on first use",
        license="CC BY 4.0 (UCI Machine Learning Repository, Optical Recognition of Handwritten Digits)",
        reader=read_digits, build=export_digits,
        citation="""@misc{alpaydin1998optical,
  title = {Optical Recognition of Handwritten Digits},
  author = {Alpaydin, E. and Kaynak, C.},
  howpublished = {UCI Machine Learning Repository},
  year = {1998},
  doi = {10.24432/C50P49}
}""",
        notes="exported to <data root>/digits/{train,val,test}/<digit>/*.png with a fixed seeded stratified split "
              "800 / 199 / 798; built locally, never downloaded",
    ),
)
