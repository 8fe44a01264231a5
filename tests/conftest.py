import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# A program that fails inside an apply leaves the Outputs that depended on it unresolved; asyncio
# reports each at garbage collection ("Future exception was never retrieved"). The failure itself
# is what the test asserts.
logging.getLogger("asyncio").setLevel(logging.CRITICAL)
