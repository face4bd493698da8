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
#: or, where listed, in :data:`PAGE_NAMES`.
API_MODULES = [
    ("conv1d", "conv1d: layers, modules and utilities"),
    ("conv1d.functional", "conv1d.functional: stateless convolution"),
    ("conv1d.optim", "conv1d.optim: optimisers"),
    ("conv1d.lr_scheduler", "conv1d.lr_scheduler: learning-rate schedules"),
    ("conv1d.stream", "conv1d.stream: chunk-by-chunk inference"),
    ("conv1d.graph_stream", "conv1d.graph_stream: streaming residual blocks and your own modules"),
    ("conv1d.conv_transpose", "conv1d.conv_transpose: streaming the transposed convolution"),
    ("conv1d.algorithms", "conv1d.algorithms: the algorithms and the choice between them"),
    ("conv1d.dask", "conv1d.dask: lazy convolution of Dask arrays"),
    ("conv1d.io", "conv1d.io: safetensors weight files"),
    ("conv1d.torch", "conv1d.torch: the PyTorch layer"),
    ("conv1d.bench.latency", "conv1d.bench.latency: the cost of a small call and of a chunk"),
    ("conv1d.bench.choice", "conv1d.bench.choice: does auto pick the fastest algorithm?"),
    ("conv1d.bench.transpose", "conv1d.bench.transpose: ConvTranspose1d against PyTorch"),
    ("conv1d.bench.models", "conv1d.bench.models: the example models against PyTorch"),
]
#: The names of the pages whose module has no ``__all__`` or whose ``__all__`` repeats names
#: documented on another page.
PAGE_NAMES = {
    "conv1d.algorithms": ["ALGORITHMS", "Algorithm", "Problem", "candidates", "choose",
                          "get_algorithm"],
    "conv1d.conv_transpose": ["ConvTransposeStream"],  # the layer is on the conv1d page
    # ``conv1d bench``'s extra sections (``conv1d bench --help`` lists them): the functions.
    "conv1d.bench.latency": ["bench_latency", "bench_streaming"],
    "conv1d.bench.choice": ["bench_algorithms"],
    "conv1d.bench.transpose": ["bench_transpose"],
    "conv1d.bench.models": ["bench_models"],
}


def public_names(module_name: str) -> list[str]:
    """The names a module's page documents: its ``__all__`` (or its :data:`PAGE_NAMES`), less
    the submodules."""
    module = importlib.import_module(module_name)
    names = PAGE_NAMES.get(module_name) or list(module.__all__)
    return [n for n in names if not isinstance(getattr(module, n), type(sys))]


def write_api_pages() -> None:
    """``docs/api/<module>.rst`` for each of :data:`API_MODULES` (rewritten on every build)."""
    folder = DOCS / "api"
    folder.mkdir(exist_ok=True)
    # autosummary never deletes a stub: one left by a name since removed would be an
    # orphan page, a warning (an error under -W).
    wanted = {f"{m}.{n}" for m, _ in API_MODULES for n in public_names(m)}
    for stub in (folder / "generated").glob("*.rst"):
        if stub.stem.split(".")[0] == "conv1d" and not any(
                stub.stem == w or stub.stem.startswith(w + ".") for w in wanted):
            stub.unlink()
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
