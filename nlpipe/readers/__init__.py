"""Turn uploaded files (PDF, images, text, archives) into :class:`~nlpipe.types.Document` objects."""
