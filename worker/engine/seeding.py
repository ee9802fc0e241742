"""Independent random streams derived from the one spec seed.

Init, data and minibatch order each get their own stream: drawn from one
seed they would share their first numbers (the first layer's weights would
equal the first inputs), and changing the data set would change the init.
"""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for `stream`, stable across runs, platforms and versions."""
    digest = hashlib.blake2b(f"{seed}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
