"""The rich-text content model, version 2 (docs/content-model.md).

One module per concern, each the twin of a module of the TinyMCE plugin
(``clients/tinymce/src/content/``); both read ``schema.json``:

* :mod:`.schema` — the vocabulary; :mod:`.sanitize` — the allow-lists;
* :mod:`.whitespace` — the one whitespace rule; :mod:`.model` — the plain-data model;
* :mod:`.dom` + :mod:`.parse` — HTML -> model (+ notes);
* :mod:`.ydoc` — model <-> pycrdt ``XmlFragment``, defensive reading;
* :mod:`.render` — model -> canonical HTML; :mod:`.purify` — the final nh3 pass;
* :mod:`.edit` — the SDK's small edits (append, insert, format) in code points.
"""
