"""DomainNet (Peng et al., ICCV 2019): 345 classes in six domains, each domain its own transfer task
(``domainnet-<domain>``), read from the released zips and train / test lists."""

from functools import partial

from auditkit.data.domainnet import DOMAINS, dataset_name, read_domainnet
from auditkit.data.entry import DatasetEntry

_FILES = "http://csr.bu.edu/ftp/visda/2019/multi-source/"
# clipart and painting: the cleaned releases (groundtruth/) the site and Liu et al.'s code point to
IMAGES = {domain: f"{_FILES}{'groundtruth/' if domain in ('clipart', 'painting') else ''}{domain}.zip"
          for domain in DOMAINS}
LISTS = {domain: tuple(f"{_FILES}domainnet/txt/{domain}_{split}.txt" for split in ("train", "test"))
         for domain in DOMAINS}


def _how(domain: str) -> str:
    return (f"auditkit does not fetch DomainNet (served over plain http, no digest published): download "
            f"{IMAGES[domain]}, {LISTS[domain][0]} and {LISTS[domain][1]} (ai.bu.edu/M3SDA), unzip it into "
            f"<data root>/domainnet so {domain}/ sits beside the lists, or pass --data {dataset_name(domain)}=PATH")


CITATION = """@inproceedings{peng2019moment,
  title = {Moment Matching for Multi-Source Domain Adaptation},
  author = {Peng, Xingchao and Bai, Qinxun and Xia, Xide and Huang, Zijun and Saenko, Kate and Wang, Bo},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages = {1406--1415},
  year = {2019}
}"""

ENTRIES = tuple(
    DatasetEntry(
        dataset_name(domain), "domainnet",
        f"{domain}/<class>/*.jpg + {domain}_train.txt, {domain}_test.txt ('{domain}/<class>/<file>.jpg <label>')",
        f"download {domain}.zip and its two lists from ai.bu.edu/M3SDA into <data root>/domainnet",
        license="research use only (ai.bu.edu/M3SDA; web images used as fair use, no license of their own)",
        reader=partial(read_domainnet, domain=domain),
        citation=CITATION,
        not_fetched={dataset_name(domain): _how(domain),
                     **({"domainnet": "auditkit does not fetch DomainNet (plain http, no digest published): "
                                      "`audit fetch domainnet-<domain>` says where each domain's zip and lists are"}
                        if domain == DOMAINS[0] else {})},
        notes=f"labels 0..344 from the lists, checked against the class folders; train and test from the lists, no "
              f"val; all six domains share one folder: --data {dataset_name(domain)}=<the folder holding "
              f"{domain}_train.txt>",
    )
    for domain in DOMAINS
)
