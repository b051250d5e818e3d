"""Imports that cost a launch seconds for nothing it uses.

jsonschema imports ``rfc3987_syntax`` (when installed, as Jupyter's dependencies install it) to
check the "iri" string format, and that module compiles a Lark grammar at import: ~1 s on these
machines, in the launch (which validates its config) and in the job (Jupyter Server validates its
events with jsonschema). No schema of ours or of Jupyter's events needs that format: without the
module, jsonschema simply does not check it. Dependency-free: the job imports it too.
"""

from __future__ import annotations

import sys


def skip_iri_format_checker() -> None:
    """Call before jsonschema is first imported; too late, it changes nothing."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


#: What jsonschema imports (when installed) to check formats that no schema a launch validates
#: uses (ours check "date" and "date-time" only): "iri" (above), "duration" (isoduration, which
#: imports arrow and dateutil: ~20 ms), "uri" and "uri-reference" (rfc3986_validator: ~9 ms).
UNUSED_BY_A_LAUNCH = ("rfc3987_syntax", "isoduration", "rfc3986_validator")


def skip_format_checkers_a_launch_does_not_use() -> None:
    """Call in the launch before jsonschema is first imported; too late, it changes nothing."""
    if "jsonschema" not in sys.modules:
        for module in UNUSED_BY_A_LAUNCH:
            sys.modules.setdefault(module, None)


def yte_without_numpy() -> None:
    """Import yte (Snakemake's profile parser) with numpy out of sight: yte imports numpy only to
    turn numpy values into plain ones (it falls back to the identity without it), and a profile
    parsed from YAML holds none; numpy's import is ~0.1 CPU-s of every launch. numpy is out of
    sight for that one import only: whatever imports it later gets it as usual."""
    if "yte" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # `import numpy` raises ModuleNotFoundError meanwhile
    try:
        import yte  # noqa: F401
    except ImportError:
        pass  # Snakemake says so itself when it needs yte
    finally:
        if "numpy" in sys.modules and sys.modules["numpy"] is None:
            del sys.modules["numpy"]
