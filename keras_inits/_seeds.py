"""Seeds derived from a base seed and a variable's path.

`path_seed(seed, path)` is the one rule by which model-level tools (`apply`, `reinitialize`,
the `seeding` scope) give each variable its own stream: a function of the base seed and the
variable's path only, so it does not depend on the order in which variables are created or
visited, nor on the process, the platform or the backend.
"""

from __future__ import annotations

import hashlib

#: Derived seeds lie in [1, 2**31 - 1]: every backend, and every supported Keras, takes them.
SEED_BITS = 31


def path_seed(seed: int, path: str) -> int:
    """The seed of the variable at `path` under the base seed `seed`.

    `int.from_bytes(blake2b(f"{seed}/{path}", digest_size=8)) mod (2**31 - 1) + 1`: a stable hash
    (Python's `hash` is salted per process), so the same pair gives the same seed everywhere.
    """
    digest = hashlib.blake2b(f"{int(seed)}/{path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % ((1 << SEED_BITS) - 1) + 1
