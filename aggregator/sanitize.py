"""An allow-list HTML sanitiser for article bodies: pure, and the only module importing nh3.

Whatever a source page holds, what comes out is a small subset of HTML that a feed reader
can show: no scripts, no styles, no event handlers, and only absolute ``http(s)`` URLs
(relative ones are resolved against the page they came from).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import nh3

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "a", "img", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote",
        "h2", "h3", "h4", "figure", "figcaption",
        "table", "thead", "tbody", "tr", "td", "th",
    }
)  # fmt: skip

ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title", "hreflang"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
}

#: Elements dropped together with everything inside them.
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script", "style", "svg", "math", "iframe", "frame", "frameset", "object", "embed",
        "applet", "noscript", "template", "head", "title", "textarea", "select", "button",
        "form", "audio", "video", "canvas",
    }
)  # fmt: skip

URL_SCHEMES: frozenset[str] = frozenset({"http", "https"})
_URL_ATTRIBUTES = frozenset({"href", "src"})
_NUMERIC_ATTRIBUTES = frozenset({"width", "height", "colspan", "rowspan"})

# html5ever ends a doctype at its first ">", so an internal subset (entity declarations,
# the classic "billion laughs" bomb) would otherwise leak out as text.
_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>", re.IGNORECASE | re.DOTALL)


def absolute_http_url(value: str, base_url: str) -> str | None:
    """``value`` resolved against ``base_url`` if the result is an http(s) URL with a host."""
    try:
        url = urljoin(base_url, value.strip())
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
        return None
    return url


def clean_html(html: str, *, base_url: str) -> str:
    """Sanitise an HTML fragment (or a whole document) down to :data:`ALLOWED_TAGS`.

    Links get ``rel="noopener noreferrer"``; ``src``/``href`` become absolute against
    ``base_url``; anything that is not http(s) after that is dropped.
    """

    def resolve(url: str) -> str | None:
        return absolute_http_url(url, base_url)

    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        # nh3 reports (and swallows) exceptions raised here, so this must not raise.
        if attribute in _URL_ATTRIBUTES:
            return resolve(value)
        if attribute in _NUMERIC_ATTRIBUTES:
            return value if value.strip().isdigit() and len(value.strip()) <= 5 else None
        return value

    return nh3.clean(
        _DOCTYPE.sub("", html),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer",
        url_schemes=set(URL_SCHEMES),
        url_relative=resolve,
    ).strip()
