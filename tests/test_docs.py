"""The lesson pages in docs/ cannot rot: their code is the lesson's code, and running it prints their output.

Each ``docs/lessons/NAME.md`` holds a ```python block (the lesson module's source, then ``run()``)
followed by a ```text block (what it prints). This test runs every python block and compares the
output line by line; numbers may differ by a rounding step (other BLAS builds sum in another order).
Regenerate the pages after changing a lesson with ``python tests/test_docs.py``.
"""
import contextlib
import inspect
import io
import pathlib
import re

import numpy as np
import pytest

import glassnet
from glassnet import lessons

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```\s*\n```text\n(.*?)```", re.S)
NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?")


def lesson_code(name):
    """The lesson's source without its docstring, runnable on its own, ending with ``run()``."""
    module = lessons.module(name)
    source = inspect.getsource(module)
    source = source.split('"""', 2)[2].lstrip("\n") if source.startswith('"""') else source
    return source.replace("from . import", "from glassnet.lessons import") + "\n\nrun()\n"


def execute(code):
    glassnet.utils.set_random_seed(1234)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<docs>", "exec"), {"__name__": "docs"})
    return out.getvalue()


def render(name):
    module = lessons.module(name)
    idea = inspect.getdoc(module)
    plot = (" Add `--plot FILE.png` to save its picture." if hasattr(module, "draw") else "")
    code = lesson_code(name)
    return (f"# Lesson `{name}`\n\n{idea}\n\nRun it with `glassnet lesson {name}`.{plot} "
            f"The code below is the lesson module, `glassnet/lessons/{module.__name__.rsplit('.', 1)[1]}.py`, "
            f"and the output is what it prints (both are checked by `tests/test_docs.py`).\n\n"
            f"```python\n{code}```\n\n```text\n{execute(code)}```\n")


def same_output(got, expected):
    got_lines, expected_lines = got.splitlines(), expected.splitlines()
    if len(got_lines) != len(expected_lines):
        return False
    for g, e in zip(got_lines, expected_lines):
        if g == e:
            continue
        if NUMBER.sub("#", g) != NUMBER.sub("#", e):
            return False
        for a, b in zip(NUMBER.findall(g), NUMBER.findall(e)):
            a, b = float(a.replace(",", "")), float(b.replace(",", ""))
            if not np.isclose(a, b, rtol=2e-3, atol=2e-3):
                return False
    return True


@pytest.mark.parametrize("name", list(lessons.LESSONS))
def test_lesson_page(name):
    page = (DOCS / "lessons" / f"{name}.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(page)
    assert blocks, f"docs/lessons/{name}.md has no ```python block followed by a ```text block"
    code, expected = blocks[0]
    assert code == lesson_code(name), (f"docs/lessons/{name}.md shows old code; "
                                       "regenerate with: python tests/test_docs.py")
    got = execute(code)
    assert same_output(got, expected), f"docs/lessons/{name}.md output differs:\n{got}"


def test_index_links_every_lesson():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for name in lessons.LESSONS:
        assert f"(lessons/{name}.md)" in index


def test_same_output_tolerates_rounding_only():
    assert same_output("loss 0.3297, n 1,000", "loss 0.3298, n 1,000")
    assert not same_output("loss 0.3297", "loss 0.4297")
    assert not same_output("loss 0.3297", "cost 0.3297")


if __name__ == "__main__":                       # python tests/test_docs.py: rewrite the pages
    np.seterr(all="raise", under="ignore")          # as tests/conftest.py
    (DOCS / "lessons").mkdir(parents=True, exist_ok=True)
    for lesson in lessons.LESSONS:
        (DOCS / "lessons" / f"{lesson}.md").write_text(render(lesson), encoding="utf-8")
        print(f"wrote docs/lessons/{lesson}.md")
