"""Bodies as Markdown: CommonMark rendered by markdown-it-py, then sanitised by nh3 to an allow-list.

Two locks, each enough alone: markdown-it's ``js-default`` preset escapes raw HTML and refuses
``javascript:``-like links, and nh3 (ammonia, an HTML5 parser) keeps only the tags and
attributes below, with links limited to http(s) and mailto. The stored file stays exactly what
the user typed; only its rendering is HTML. A version never changes, so its HTML is kept by
the version's key (``version_html``): rendering costs milliseconds on long bodies.
"""

import nh3
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from messages_app.textcache import TextCache

ALLOWED_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("strong", "em", "s", "del", "ul", "ol", "li", "a", "img"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc noopener"

# Line breaks inside a paragraph stay line breaks: people write messages, not typeset prose.
_PARSER = MarkdownIt("js-default", {"breaks": True})


def _image_as_link(self, tokens, index, options, env) -> str:
    """Render an image as a link to it: loading another site's image tells that site who reads."""
    token = tokens[index]
    source = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env) or source
    if settings.MESSAGEBOARD_MARKDOWN_IMAGES:
        return self.image(tokens, index, options, env)
    return f'<a href="{escape(source)}">{escape("🖼 " + alt)}</a>'


_PARSER.add_render_rule("image", _image_as_link)


# Markdown is rendered up to this size; a longer body is shown as plain text with its line
# breaks. markdown-it-py works in time that grows with the text, and faster than linearly on
# some shapes: at 256 KiB a wide table took 2.8 s and prose 0.5 s (benchmarks/markdown.py).
MARKDOWN_MAX_BYTES = 32 * 1024
# A link label is looked for from every "[" to its "]": a text of unclosed brackets costs the
# square of its length (256 KiB of "![" took 30 s). With more brackets than any message
# needs, links and images are left as typed, and the cost stays linear.
MAX_BRACKETS = 1000

_PLAIN_LINKS = MarkdownIt("js-default", {"breaks": True}).disable(["link", "image"])


def render_markdown(text: str) -> SafeString:
    """Return a body's text as sanitised HTML, in bounded time whatever the text."""
    if len(text.encode()) > MARKDOWN_MAX_BYTES:
        return mark_safe(f'<p class="plain">{escape(text).replace(chr(10), "<br>" + chr(10))}</p>\n')
    parser = _PARSER if text.count("[") <= MAX_BRACKETS else _PLAIN_LINKS
    html = parser.render(text)
    return mark_safe(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel=LINK_REL,
            strip_comments=True,
        )
    )


HTML_TEXTS = TextCache(prefix="html:", budget_setting="MESSAGEBOARD_BODY_CACHE_BYTES", timeout=7 * 24 * 3600)


def version_html(key: str, text: str) -> SafeString:
    """Return the HTML of the version stored at ``key`` (whose text is ``text``), kept by its key."""
    cache_key = f"{int(settings.MESSAGEBOARD_MARKDOWN_IMAGES)}:{key}"
    html = HTML_TEXTS.get(cache_key)
    if html is None:
        html = render_markdown(text)
        HTML_TEXTS.set(cache_key, str(html))
    return mark_safe(html)
