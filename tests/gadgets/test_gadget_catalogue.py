"""docs/gadgets.md is generated from the code and must be up to date."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gadget_catalogue_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gadget_catalogue", ROOT / "scripts" / "gadget_catalogue.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.render()
    assert "4,096 rows" in text and "262,144" in text
    assert (ROOT / "docs" / "gadgets.md").read_text() == text, \
        "docs/gadgets.md is stale: run python scripts/gadget_catalogue.py"
