"""E-mails (.eml): subject and body (the plain-text part, or the HTML part as text), headers and the attachments'
names in ``meta``.
"""

from __future__ import annotations

from typing import Any

from nlpipe.errors import NlpipeError
from nlpipe.readers.text.markup import SPACE, html_to_text
from nlpipe.readers.text.plain import no_text, normalise_newlines
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Document

__all__ = ["MIME_EML", "read_eml"]

MIME_EML = "message/rfc822"
# Longest header value parsed; the rest of a longer one is dropped. The standard library's header parser takes
# memory growing faster than the value (a 112 KB Subject of encoded words: 450 MB; 2.8 MB: more than 20 GB).
MAX_HEADER_CHARS = 8 * 1024


def _capped_policy() -> Any:
    """``email.policy.default`` that parses at most :data:`MAX_HEADER_CHARS` of each header value."""
    from email.policy import EmailPolicy

    class CappedPolicy(EmailPolicy):
        def header_fetch_parse(self, name: str, value: str) -> Any:
            if isinstance(value, str) and len(value) > MAX_HEADER_CHARS:
                value = value[:MAX_HEADER_CHARS]
            return super().header_fetch_parse(name, value)

    return CappedPolicy()


def _part_text(part: Any, source: str) -> str:
    """Decoded text of a MIME part: its declared charset when that decodes cleanly, else detection."""
    raw = part.get_payload(decode=True)
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    charset = part.get_content_charset()
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return read_text(raw, source=source) if raw else ""


def _header(msg: Any, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse is left out, not fatal
        return None
    if value is None:
        return None
    return SPACE.sub(" ", str(value)).strip() or None


def read_eml(data: bytes, *, source: str) -> Document:
    """An e-mail: subject, a blank line, then the text/plain body (or the HTML body as text).

    Attachments are not read; ``meta["attachments"]`` lists their ``filename``, ``content_type`` and
    ``bytes``. ``meta`` also holds ``subject``, ``from``, ``to``, ``date`` and ``message_id`` when present.
    Header values longer than :data:`MAX_HEADER_CHARS` are read up to that length. Raises E181 (unparseable
    message), E108 or E177 (neither subject nor body).
    """
    import email

    try:
        msg = email.message_from_bytes(data, policy=_capped_policy())
        subject = _header(msg, "subject") or ""
        body_part = msg.get_body(preferencelist=("plain", "html"))
        body = ""
        if body_part is not None:
            content = _part_text(body_part, source)
            if body_part.get_content_type() == "text/html":
                body = html_to_text(content)[0]
            else:
                body = normalise_newlines(content).strip()
        attachments = []
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            attachments.append(
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "bytes": len(payload) if isinstance(payload, bytes) else None,
                }
            )
        meta: dict[str, Any] = {}
        for key, header in (("subject", "subject"), ("from", "from"), ("to", "to"), ("date", "date"),
                            ("message_id", "message-id")):  # fmt: skip
            value = _header(msg, header)
            if value:
                meta[key] = value
    except NlpipeError:
        raise
    except Exception as exc:
        raise fail(
            "E181",
            f"cannot parse the e-mail ({type(exc).__name__}: {exc}); export it again as .eml (RFC 822)",
            file=source,
        ) from None
    text = "\n\n".join(p for p in (subject.strip(), body.strip()) if p)
    if not text:
        raise no_text(source, "the e-mail has neither a subject nor a text or HTML body")
    if attachments:
        meta["attachments"] = attachments
    return Document(text=text, source=source, mime=MIME_EML, meta=meta)
