"""Build-time code of the offline assistant's index (not part of the wheel).

``scripts/build_docs_index.py`` and the test that checks the packaged index is
current use it; the assistant itself only reads the index it produced.
"""
