"""ObjectNet (Barbu et al., NeurIPS 2019): objects photographed in unusual poses, rooms and views."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.objectnet import read_objectnet
from auditkit.fetch import hub_webdataset

ENTRIES = (
    DatasetEntry(
        "objectnet", "objectnet", "objectnet-1.0/images/<class folder>/*.png (113 ImageNet classes scored)",
        "download ObjectNet 1.0 from objectnet.dev (free registration, its own license)",
        license="ObjectNet license (objectnet.dev): evaluation only, never training; images not redistributed",
        reader=read_objectnet,
        citation="""@inproceedings{barbu2019objectnet,
  title = {{ObjectNet}: A large-scale bias-controlled dataset for pushing the limits of object recognition models},
  author = {Barbu, Andrei and Mayo, David and Alverio, Julian and Luo, William and Wang, Christopher and Gutfreund, Dan and Tenenbaum, Josh and Katz, Boris},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2019}
}""",
        downloads=(hub_webdataset("objectnet"),),
        webdataset="objectnet",
        notes="the 113 classes that overlap ImageNet (ObjectNet's mapping files, shipped as the robustness testbed "
              "copied them), each image's 2 px border cropped on read, logits restricted to those classes' 125 "
              "ImageNet classes, right when the answer is any ImageNet class of the image's class (the testbed's "
              "protocol)",
    ),
)
