"""auditkit: audit vision models for the properties that ImageNet accuracy hides."""

__version__ = "0.1.0"
