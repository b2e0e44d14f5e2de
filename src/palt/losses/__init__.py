"""Multi-label losses for long-tailed and partially-labelled data.

Every loss takes **logits** (never probabilities) and targets in {1, 0, −1}, computes in fp32
even under autocast, and has an explicit ``reduction`` whose default and the reference paper's
choice are documented on the class. Statistics (class counts, priors) are tensors or buffers.
"""

__all__: list[str] = []
