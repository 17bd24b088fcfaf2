"""Model adapters: specs -> ``ModelAdapter`` (batch of images -> 1000 ImageNet logits)."""

from auditkit.adapters.base import ClassifierAdapter, ModelAdapter
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.adapters.specs import PRESETS, ModelOptions, load_model

__all__ = ["ClassifierAdapter", "ModelAdapter", "ModelOptions", "PRESETS", "PreprocessConfig", "load_model"]
