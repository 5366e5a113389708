"""Bulk import of an enterprise's history (issue 18, ``docs/import.md``, ADR 0009).

``records`` is the interchange format (NDJSON, one record per line) and its validation;
``runner`` reads files, validates row by row, writes rejects and hands good records in large
batches to each owning service's import use case (``services/<svc>/application/importing.py``).
"""
