"""``tandem demo``: the server plus a page with two live TinyMCE editors. Never for production."""
