"""Citation-grounded question answering over a folder of documents.

Light on import: heavy dependencies (torch, chromadb) load only when used.
"""

__version__ = "0.1.0"
