"""VTAB-1k (Zhai et al., 2019), as the PEFT repositories (NOAH, VPT) release it: 19 tasks of
800 training and 200 validation images each, with the full test split."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.transfer import read_vtab_1k

ENTRIES = (
    DatasetEntry(
        "vtab-1k", "vtab-1k",
        "<task>/train800.txt, val200.txt, test.txt ('<path> <label>') for any of the 19 tasks",
        "unpack the PEFT repositories' vtab-1k release (NOAH / VPT) there",
        license="each task's own (see the VTAB paper's table of sources)",
        reader=read_vtab_1k,
        citation="""@article{zhai2019large,
  title = {A Large-scale Study of Representation Learning with the Visual Task Adaptation Benchmark},
  author = {Zhai, Xiaohua and Puigcerver, Joan and Kolesnikov, Alexander and Ruyssen, Pierre and Riquelme, Carlos and Lucic, Mario and Djolonga, Josip and Pinto, Andr{\\'e} Susano and Neumann, Maxim and Dosovitskiy, Alexey and Beyer, Lucas and Bachem, Olivier and Tschannen, Michael and Michalski, Marcin and Bousquet, Olivier and Gelly, Sylvain and Houlsby, Neil},
  journal = {arXiv preprint arXiv:1910.04867},
  year = {2019}
}""",
        notes="task folders caltech101, cifar, dtd, ... smallnorb_ele; every task found is probed on its own "
              "(records: subset = task)",
    ),
)
