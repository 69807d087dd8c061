"""Sequence classification: loading, batched inference and fine-tuning.

Kept free of imports on purpose: the web process imports this package's job paths by name and must
never pull in torch.
"""
