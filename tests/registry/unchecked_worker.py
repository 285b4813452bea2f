"""A model worker without the registry's structure check (``registry.structure``), so a test
can watch a crafted file crash the worker's native code, as an unknown flaw would."""

from __future__ import annotations

import sys
from typing import Any

from modelyard.registry import loaders, model_worker


def _unchecked(obj: Any) -> None:
    del obj


if __name__ == "__main__":
    loaders.check_structure = _unchecked
    sys.exit(model_worker.main())
