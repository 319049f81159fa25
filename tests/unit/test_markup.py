"""Markdown bodies: CommonMark rendered, then sanitised; no payload ever yields an executable element or attribute."""

import html.parser
import re

import pytest

from messages_app import markup

# OWASP's XSS filter evasion cheat sheet, and what Markdown adds: links, reference links,
# autolinks, images, raw HTML blocks and inline HTML, entities and encodings.
PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="' + "".join(f"&#{ord(c):07d}" for c in "javascript:alert('XSS')") + '">',
    "<IMG SRC=" + "".join(f"&#{ord(c)};" for c in "javascript:alert('XSS')") + ">",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<BODY ONLOAD=alert('XSS')>",
    '<svg/onload=alert("XSS")>',
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<details open ontoggle="alert(1)">',
    "<!--<img src=x onerror=alert(1)>-->",
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](%6A%61%76%61script:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '[click](https://example.com "title\\" onmouseover=\\"alert(1)")',
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[ref][x]\n\n[x]: <javascript:alert(1)> "t"',
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://example.com/a.png)',
    '![x](https://example.com/a.png" onerror="alert(1))',
    "<div>\n\n*raw html block* <img src=x onerror=alert(1)>\n\n</div>",
    "<a href='javascript:alert(1)'>inline html link</a>",
    "```html\n<script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<<script>script>alert(1)<</script>/script>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "~~<script>alert(1)</script>~~",
    '> <iframe srcdoc="<script>alert(1)</script>">',
    "[a](<javascript:alert(1)>)",
    "[a](java\u0000script:alert(1))",
    "[a](java\nscript:alert(1))",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
]

FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "style", "svg", "math", "form", "meta", "link", "base", "body"}
SAFE_SCHEMES = {"http", "https", "mailto"}


class Elements(html.parser.HTMLParser):
    """Every start tag with its attributes, values unescaped as a browser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))


def executable_parts(rendered: str) -> list[str]:
    parser = Elements()
    parser.feed(rendered)
    problems = []
    for tag, attributes in parser.elements:
        if tag in FORBIDDEN_TAGS or tag not in markup.ALLOWED_TAGS:
            problems.append(f"element <{tag}>")
        for name, value in attributes:
            if name.startswith("on") or name in {"style", "srcdoc", "formaction"}:
                problems.append(f"attribute {name} on <{tag}>")
            if name in {"href", "src"} and value is not None:
                # As a browser's URL parser reads it: C0 controls and spaces trimmed at the ends,
                # tabs and newlines dropped anywhere, then a scheme is a letter followed by
                # letters, digits, "+", "-" or "." before a colon (anything else is a relative URL).
                squeezed = re.sub(
                    r"[\t\n\r]",
                    "",
                    value.strip(
                        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
                        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \t\n\r"
                    ),
                )
                scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", squeezed)
                if scheme is not None and scheme.group(1).lower() not in SAFE_SCHEMES:
                    problems.append(f"{name}={value!r} on <{tag}>")
    return problems


def test_there_are_at_least_forty_payloads():
    assert len(PAYLOADS) >= 40


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_renders_an_executable_element_or_attribute(payload, settings):
    for images in (False, True):
        settings.MESSAGEBOARD_MARKDOWN_IMAGES = images
        rendered = markup.render_markdown(payload)
        assert executable_parts(rendered) == [], rendered


def test_commonmark_with_tables_and_strikethrough_renders():
    rendered = markup.render_markdown("# Title\n\n**bold** _it_ ~~gone~~\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h1>Title</h1>" in rendered
    assert "<strong>bold</strong>" in rendered and "<em>it</em>" in rendered
    assert "<s>gone</s>" in rendered
    assert "<table>" in rendered and "<td>1</td>" in rendered


def test_a_line_break_inside_a_paragraph_stays_a_line_break():
    assert markup.render_markdown("first line\nsecond line") == "<p>first line<br>\nsecond line</p>\n"


def test_links_are_marked_nofollow_ugc_noopener():
    rendered = markup.render_markdown("[site](https://example.com/page)")
    assert 'href="https://example.com/page"' in rendered
    assert 'rel="nofollow ugc noopener"' in rendered


def test_an_image_from_another_site_is_a_link_unless_the_setting_allows_images(settings):
    settings.MESSAGEBOARD_MARKDOWN_IMAGES = False
    rendered = markup.render_markdown("![a cat](https://example.com/cat.png)")
    assert "<img" not in rendered
    assert 'href="https://example.com/cat.png"' in rendered and "a cat" in rendered
    settings.MESSAGEBOARD_MARKDOWN_IMAGES = True
    rendered = markup.render_markdown("![a cat](https://example.com/cat.png)")
    assert '<img src="https://example.com/cat.png" alt="a cat">' in rendered


def test_raw_html_is_shown_as_text():
    assert markup.render_markdown("<b>hi</b>") == "<p>&lt;b&gt;hi&lt;/b&gt;</p>\n"


def test_a_versions_html_is_kept_by_its_key_and_never_rendered_twice(monkeypatch):
    calls = []
    real = markup.render_markdown
    monkeypatch.setattr(markup, "render_markdown", lambda text: calls.append(text) or real(text))
    first = markup.version_html("messages/aa/1-00000001-x.txt", "*hi*")
    second = markup.version_html("messages/aa/1-00000001-x.txt", "*hi*")
    assert first == second == "<p><em>hi</em></p>\n"
    assert calls == ["*hi*"]


def test_a_body_over_the_markdown_limit_is_shown_as_plain_text_with_its_line_breaks():
    text = "**not bold** <b>x</b>\nsecond line\n" + "x" * markup.MARKDOWN_MAX_BYTES
    rendered = markup.render_markdown(text)
    assert rendered.startswith('<p class="plain">**not bold** &lt;b&gt;x&lt;/b&gt;<br>\nsecond line<br>\n')
    assert executable_parts(rendered) == []


def test_a_text_of_more_brackets_than_any_message_needs_keeps_its_links_as_typed():
    few = markup.render_markdown("[a](https://example.com) " + "[" * 10)
    assert '<a href="https://example.com"' in few
    many = markup.render_markdown("[a](https://example.com) " + "[" * markup.MAX_BRACKETS)
    assert "<a " not in many
    assert "[a](https://example.com)" in many
