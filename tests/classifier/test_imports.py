from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_web_facing_modules_do_not_import_torch() -> None:
    # The web process imports job paths by name; it must never pay for (or fork with) torch.
    code = (
        "import sys, classifier, classifier.exceptions, classifier.runtime, classifier.batching, "
        "classifier.postprocess, classifier.dataset, classifier.metrics, classifier.hub; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
