"""Layout: fields (invoice number, date, total, ...) from the word boxes of PDFs."""
