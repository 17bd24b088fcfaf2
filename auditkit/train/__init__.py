"""Training as an answer to a request: a backbone fine-tuned under a recipe, checkpointed in the
prediction store, its test logits stored like any other model's (``auditkit.train.finetune``).

- ``recipes``: every hyper-parameter of a protocol (``zhou2021``, ``vtab``), the store key;
- ``finetune``: the training loop (seeded, resumable from the last epoch, DDP under torchrun);
- ``adapted``: the fine-tuned copy as a ``ModelAdapter`` (``--model finetuned:PATH``).
"""
