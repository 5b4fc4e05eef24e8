"""Loading, chunking, embedding and (re-)indexing of the sources folder."""
