"""Zip and tar archives (plain, gzip, bzip2, xz), single ``.gz``/``.bz2``/``.xz`` files and folders, member by member.

Nothing is ever extracted to disk: each member is read into memory on its own and handed back as a
:class:`Member` (its bytes and its source ``archive.zip!path/inside``) for the dispatcher to parse -- which
opens archives found inside archives with the same :class:`ArchiveBudget`, so the limits hold for the whole
tree. Problems come back as :class:`Problem` items, never as exceptions: one bad member never aborts the
archive.

Hostile input is refused before it costs memory or time:

- zip bombs: each member's declared size is checked against the per-document limit, the running total
  against the archive limit and ``file_size / compress_size`` against the compression-ratio limit before a
  byte is inflated; then the same limits are enforced again while streaming (declared sizes can lie), so
  reading stops one chunk past a limit. Compressed tars (and ``.gz`` files) are guarded on the whole
  decompressed stream against the compressed bytes consumed so far, so a bomb stops after a few MB
  (including the data of members that are skipped), and pax / GNU long-name headers are capped. The ratio
  is only enforced past :data:`RATIO_FLOOR` unpacked bytes: a tiny file of repeated characters is no bomb.
- the member count is capped; for zips the count in the end-of-central-directory record is checked before
  Python parses the central directory.
- absolute paths, ``..`` components, symlinks, hard links, devices and FIFOs are skipped with a warning;
  hidden files (``.name``, ``__MACOSX/``, ``Thumbs.db``) are skipped too.
- encrypted zip members are reported per member (ZipCrypto members are decrypted when a password is given).
- a corrupt or truncated archive is reported naming the archive; tar members read before the damage are kept.

Codes (messages start with the archive or ``archive!member`` and say what to do):

========  ==========================================================================================
E176      empty member (0 bytes)
E178      member larger than ``max_document_bytes`` (declared, or found while reading) -- LimitError
E182      archive corrupt or truncated (not a zip/tar, damaged header, cut-off data)
E183      encrypted member (no or wrong password, or an encryption Python cannot read)
E184      compression ratio above ``max_compression_ratio`` (zip bomb) -- LimitError
E185      archive unpacks to more than ``max_archive_bytes``; the rest is not read -- LimitError
E186      more members than ``max_archive_members``; the rest is not read -- LimitError
E188      skipped: absolute path or ``..`` in a member name
E189      skipped: symlink, hard link, device, FIFO or socket
E191      skipped: hidden or system file
E192      damaged member (CRC mismatch, more data than declared, unsupported compression method)
E195      a folder or file that cannot be read from disk
E197      warning: a tar archive ends without its end-of-archive marker (it may be truncated)
========  ==========================================================================================

Modules
-------
``guards`` the limits, the budget of one archive tree, member-name checks and the capped read (with the data
types :class:`~nlpipe.readers.archives.guards.Member` and :class:`~nlpipe.readers.archives.guards.Problem`);
``zips`` zip archives and the bomb check of zip-based documents; ``compressed`` gzip / bzip2 / xz streams and
single compressed files; ``tar`` tar archives; ``walk`` :func:`~nlpipe.readers.archives.walk.iter_archive`, the
walker of each kind; ``folders`` :func:`~nlpipe.readers.archives.folders.iter_folder`. This ``__init__`` imports
nothing: import from the modules.
"""
