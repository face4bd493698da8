"""Sphinx configuration: the user guide (the README's sections) and the API reference.

Build with warnings as errors (the command the README's development section names)::

    python -m sphinx -W -b html docs docs/_build/html

The API pages are written here, at build time, from each module's ``__all__``: a name added
to ``__all__`` is documented without touching ``docs/``. :data:`API_MODULES` lists the
modules that get a page.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))  # document this checkout, installed or not

import conv1d  # noqa: E402

project = "conv1d"
author = "The conv1d authors"
copyright = "2026, The conv1d authors"
version = release = conv1d.__version__

extensions = [
    "myst_parser",  # the guide pages include the README's Markdown sections
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "PyTorch's Conv1d on NumPy arrays", "fixed_sidebar": True}

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the signature shows them; numpydoc's Parameters describe them
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the class template lists members with autodoc
numpydoc_xref_param_type = False
myst_heading_anchors = 3
# The README's sections are included into pages whose own title is level 1, so a section's
# "###" subsections come right after a "#" title.
suppress_warnings = ["myst.header"]
# Offline by default (CI has no network); set CONV1D_DOCS_INTERSPHINX=1 to link NumPy's docs.
intersphinx_mapping: dict[str, tuple[str, None]] = {}
if __import__("os").environ.get("CONV1D_DOCS_INTERSPHINX"):
    intersphinx_mapping = {"numpy": ("https://numpy.org/doc/stable/", None)}

#: ``(module, title)`` of every API page; each documents the names in the module's ``__all__``
#: (``conv1d.algorithms`` has none: its public names are listed in ``ALGORITHMS_API``).
API_MODULES = [
    ("conv1d", "conv1d: layers, modules and utilities"),
    ("conv1d.functional", "conv1d.functional: stateless convolution"),
    ("conv1d.optim", "conv1d.optim: optimisers"),
    ("conv1d.stream", "conv1d.stream: chunk-by-chunk inference"),
    ("conv1d.algorithms", "conv1d.algorithms: the algorithms and the choice between them"),
    ("conv1d.torch", "conv1d.torch: the PyTorch layer"),
]
ALGORITHMS_API = ["ALGORITHMS", "Algorithm", "Problem", "candidates", "choose", "get_algorithm"]


def public_names(module_name: str) -> list[str]:
    """The names a module's page documents: its ``__all__``, less the submodules and the
    ``bench_*`` functions (``conv1d bench``'s sections, documented by ``conv1d bench --help``)."""
    module = importlib.import_module(module_name)
    names = ALGORITHMS_API if module_name == "conv1d.algorithms" else list(module.__all__)
    return [n for n in names
            if not isinstance(getattr(module, n), type(sys)) and not n.startswith("bench_")]


def write_api_pages() -> None:
    """``docs/api/<module>.rst`` for each of :data:`API_MODULES` (rewritten on every build)."""
    folder = DOCS / "api"
    folder.mkdir(exist_ok=True)
    for module_name, title in API_MODULES:
        names = "\n".join(f"   {n}" for n in public_names(module_name))
        page = (
            f"{title}\n{'=' * len(title)}\n\n"
            f".. automodule:: {module_name}\n   :no-members:\n\n"
            f".. currentmodule:: {module_name}\n\n"
            f".. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n{names}\n"
        )
        path = folder / f"{module_name}.rst"
        if not path.exists() or path.read_text() != page:  # untouched pages are not rebuilt
            path.write_text(page)


write_api_pages()


def shape_into_notes(app, what, name, obj, options, lines: list[str]) -> None:
    """Move a PyTorch-style ``Shape`` section into ``Notes``, under a "Shape" heading.

    numpydoc drops the sections it does not know (with a Python warning, not a Sphinx one),
    and the layers document their shapes as PyTorch does; this runs before numpydoc.
    """
    def is_header(i: int) -> bool:
        return (i + 1 < len(lines) and lines[i].strip() != ""
                and set(lines[i + 1].strip()) == {"-"} and len(lines[i + 1].strip()) >= 3)

    start = next((i for i in range(len(lines)) if lines[i].strip() == "Shape" and is_header(i)),
                 None)
    if start is None:
        return
    end = next((i for i in range(start + 2, len(lines)) if is_header(i)), len(lines))
    body = lines[start + 2 : end]
    del lines[start:end]
    block = [".. rubric:: Shape", "", *body, ""]
    notes = next((i for i in range(len(lines)) if lines[i].strip() == "Notes" and is_header(i)),
                 None)
    if notes is None:
        lines.extend(["", "Notes", "-----", *block])
    else:
        lines[notes + 2 : notes + 2] = block


# numpydoc also reads the raw docstring for a signature, and warns there about "Shape" too.
warnings.filterwarnings("ignore", message="Unknown section Shape", category=UserWarning)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", shape_into_notes, priority=100)  # before numpydoc
