"""Every Python example in the README runs as written, each in a fresh interpreter (the proxy
and block examples are also checked in depth by tests/proxies/test_readme_example.py and
tests/test_block_types.py); the links it makes to files in the repository resolve."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _examples():
    text = README.read_text()
    return [textwrap.dedent(m) for m in re.findall(r"```python\n(.*?)```", text, re.S)]


def test_the_readme_has_its_examples():
    codes = _examples()
    assert len(codes) >= 3
    assert any("register_proxy" in c for c in codes) and any("register_block" in c for c in codes)
    assert any("HybridSegSpace()" in c for c in codes)


def _own_names(code: str) -> str:
    """The example with the names it registers made unique, so that a user who saved it as a
    plug-in of their own (a proxy file in nascore/proxies/, say) keeps a green suite."""
    for m in re.finditer(r'register_(?:proxy|block)\("(\w+)"', code):
        code = code.replace(f'"{m.group(1)}"', f'"{m.group(1)}_readme_test"')
    return code


@pytest.mark.parametrize("i", range(len(_examples())))
def test_readme_example_runs(i, tmp_path):
    code = _own_names(_examples()[i])
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, f"README example {i} failed:\n{code}\n{res.stderr[-3000:]}"


def test_readme_links_resolve():
    text = README.read_text()
    links = [l for l in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in l]
    assert links
    missing = [l for l in links if not (ROOT / l).exists()]
    assert not missing, missing
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for l in re.findall(r"\]\(([^)#]+)\)", doc.read_text()):
            if "://" not in l:
                assert (doc.parent / l).exists(), f"{doc.name}: {l}"


def test_no_internal_issue_numbers_in_the_documents():
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        hits = re.findall(r"\bissues? \d+|\bissue-\d+", doc.read_text(), re.I)
        assert not hits, f"{doc.relative_to(ROOT)}: {hits}"
