"""Optional dependencies: import one, or fail with an ImportError that names the extra.

`pip install keras-inits` installs only Keras and numpy. Features that need more say which
extra brings it, e.g. `pip install "keras-inits[diagnostics]"`, instead of a bare
`ModuleNotFoundError` from deep inside a call.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Imports `module`, or raises `MissingExtra` naming `feature` and the `extra` to install.

    Args:
        module: the module to import, e.g. `"matplotlib.pyplot"`.
        extra: the keras-inits extra that installs it, e.g. `"diagnostics"`.
        feature: what needs it, for the message, e.g. `"PropagationReport.plot"`.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"{feature} needs {module.split('.')[0]}, which is not installed ({e}). "
            f'Install it with: pip install "keras-inits[{extra}]"'
        ) from e
