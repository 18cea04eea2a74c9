"""The README's "A proxy" extension example runs as written and gives a working proxy."""

import math
import re
from pathlib import Path

import torch

from nascore.proxies import PROXIES, score, score_many

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text()
    section = text[text.index("* **A proxy:**"):]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README 'A proxy' section has no python example"
    lines = m.group(1).splitlines()
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    return "\n".join(l[indent:] for l in lines)


def test_readme_proxy_example_registers_and_scores():
    code = _example()
    readme_name = re.search(r'register_proxy\("(\w+)"', code).group(1)
    # under a name of its own, so a user who saved the example as a proxy file keeps a green suite
    name = readme_name + "_readme_test"
    code = code.replace(f'"{readme_name}"', f'"{name}"')
    assert name not in PROXIES
    try:
        exec(compile(code, str(README), "exec"), {})
        assert name in PROXIES
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
        batch = (torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long))
        r = score(name, net, batch, options={"log_base": 10})
        assert r.ok, r.error
        assert r.value == math.log(65, 10)
        res = score_many([name, "params"], net, batch)
        assert res[name].value == math.log(65) and res[name].status == "ok"
    finally:
        if name in PROXIES:
            PROXIES.unregister(name)
