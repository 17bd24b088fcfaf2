"""Data sources: released dataset layouts -> ordered samples with labels, ids and a manifest."""

from auditkit.data.catalog import DATASETS, open_dataset, parse_data_overrides
from auditkit.data.source import DatasetSource, Sample

__all__ = ["DATASETS", "DatasetSource", "Sample", "open_dataset", "parse_data_overrides"]
