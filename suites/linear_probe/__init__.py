"""Linear-probe transfer, few-shot probes and retrieval on frozen features."""
