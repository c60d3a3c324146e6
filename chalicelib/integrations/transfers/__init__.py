"""Imports and exports on S3: members and orders loaded from CSV or JSON Lines files
uploaded by presigned URL, applied by a checkpointed job; the S3 adapter of
``core.objects`` that segment and member exports are written through.

Public: ``storage`` (the adapter ``app.py`` plugs in), ``service`` and ``schemas``.
"""
