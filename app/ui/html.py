"""Pure HTML builders for the UI (no Streamlit import, unit-tested).

Every piece of corpus or user text is HTML-escaped here, and only here.
Passages keep their exact file offsets until the last step: quoted spans are
located on the original text, then the Markdown that ``app.render.hidden_mask``
marks (``**``/``__`` emphasis markers, a link's brackets and target) is dropped
character by character, so a highlight never shifts when markup is removed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

from app.render import answer_blocks, display_text, hidden_mask
from ingest.types import USER_ADDED_MARK, Chunk, DocumentMeta, source_mark

MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\]")

KIND_LABELS = {"statute": "法律法规", "agreement": "用户协议", "paper": "学术论文", "blog": "博客文章"}

Span = tuple[int, int]


def _asset(name: str) -> str:
    """A page snippet kept as its own file (app/ui/assets/): CSS and scripts read as what they are."""
    return (Path(__file__).with_name("assets") / name).read_text(encoding="utf-8")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def kind_label(kind: str, user_added: bool = False) -> str:
    """法律法规 / 用户协议 …; a document legal staff added themselves says so (用户协议（用户添加）)."""
    return KIND_LABELS.get(kind, kind) + (USER_ADDED_MARK if user_added else "")


def document_label(meta: DocumentMeta) -> str:
    """``标题（类型）`` for pickers and lists; the type is left out when the title already names it
    (生成式人工智能的产品责任适用（学术论文）), and a user-added document says so."""
    kind = kind_label(meta.kind)
    return meta.title + ("" if kind in meta.title else f"（{kind}）") + source_mark(meta)


def provenance_line(meta: DocumentMeta) -> str:
    """Where a document comes from, for the people reading it: 来源 · 版本 · 文件, in Chinese.

    ``meta.source`` is the manifest's user-facing origin; ``meta.provenance`` is the developers'
    note (repository commits, normalization steps) and is never shown, except for a user-added
    document, whose provenance is what legal staff typed (or the generated Chinese line).
    """
    source = meta.source or (meta.provenance if meta.user_added else "") or "未注明"
    if meta.user_added:
        version = f"法务人员于 {meta.added_on} 添加"
        if meta.effective:
            version += f"，{meta.effective} 起施行"
    elif meta.kind == "statute" and meta.effective:
        version = f"现行文本，{meta.effective} 起施行"
    else:
        version = f"{meta.effective} 版" if meta.effective else ""
    parts = [f"来源：{' '.join(source.split())}", f"版本：{version}" if version else "", f"文件：{meta.file}"]
    return " · ".join(p for p in parts if p)


def merge_spans(spans: Iterable[Span], lo: int, hi: int) -> list[Span]:
    """Spans clipped to [lo, hi), sorted, overlapping ones merged."""
    clipped = sorted((max(s, lo), min(e, hi)) for s, e in spans if min(e, hi) > max(s, lo))
    merged: list[Span] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def highlight(text: str, base: int, spans: Iterable[Span] = (), *, css_class: str = "hl") -> str:
    """``text`` (which starts at file offset ``base``) as HTML with ``spans`` (file offsets) marked.

    Emphasis markers are removed after the spans are placed on the original
    offsets; the result is escaped, and newlines become ``<br>`` so the HTML has
    no line breaks (Markdown would otherwise end the HTML block at a blank line).
    """
    drop = hidden_mask(text) or bytearray(len(text))

    def piece(a: int, b: int) -> str:
        kept = "".join(ch for i, ch in enumerate(text[a:b], start=a) if not drop[i])
        return esc(kept).replace("\r", "").replace("\n", "<br>")

    out: list[str] = []
    pos = 0
    for s, e in merge_spans(spans, base, base + len(text)):
        rs, re_ = s - base, e - base
        out.append(piece(pos, rs))
        marked = piece(rs, re_)
        if marked:
            out.append(f'<mark class="{css_class}">{marked}</mark>')
        pos = re_
    out.append(piece(pos, len(text)))
    return "".join(out)


def anchor_id(prefix: str, number: int) -> str:
    return f"{prefix}-c{number}"


PREVIEW_CHARS = 150  # how much of a cited passage the [n] popover shows


def quote_preview(quote: str, limit: int = PREVIEW_CHARS) -> str:
    """The start of a passage on one line, as readers see it (``app.render.display_text``), cut at ``limit``
    characters."""
    flat = " ".join(display_text(quote).split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def answer_body_html(
    text: str, locators: dict[int, str], anchor_prefix: str, quotes: dict[int, str] | None = None
) -> str:
    """The answer as one line of HTML: lead paragraph, ``**heading**`` lines, ``- `` bullets.

    Built by hand rather than by Markdown so a quoted clause that starts with
    "7." or "- " stays the text it is; each ``[n]`` becomes a superscript link to
    citation card n, and hovering (or focusing) it shows a popover with the
    locator and the start of the passage (``quotes``), so a reader can judge a
    source without leaving the sentence.  Meant for ``st.markdown(..., unsafe_allow_html=True)``.
    """
    out = ['<div class="answer-body">']
    in_list = False
    for kind, content in answer_blocks(text):
        if in_list and kind != "item":
            out.append("</ul>")
            in_list = False
        if kind == "item":
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(content, locators, anchor_prefix, quotes or {})}</li>")
        elif kind == "heading":
            out.append(f'<div class="answer-h">{esc(content)}</div>')
        else:
            css = ' class="answer-lead"' if kind == "lead" else ""
            out.append(f"<p{css}>{_inline(content, locators, anchor_prefix, quotes or {})}</p>")
    if in_list:
        out.append("</ul>")
    out.append("</div>")
    return "".join(out)


def _inline(text: str, locators: dict[int, str], anchor_prefix: str, quotes: dict[int, str]) -> str:
    def popover(n: int) -> str:
        quote = f'<span class="cite-pop-quote">{esc(quote_preview(quotes[n]))}</span>' if n in quotes else ""
        return (
            f'<span class="cite-pop" role="tooltip"><span class="cite-pop-loc">{esc(locators[n])}</span>'
            f"{quote}</span>"
        )

    def link(m: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,，、]\s*", m.group(1))]
        if not all(n in locators for n in numbers):
            return m.group(0)
        return "".join(
            f'<sup class="cite-ref"><a href="#{anchor_id(anchor_prefix, n)}" target="_self" '
            f'aria-label="{esc(locators[n])}">[{n}]</a>{popover(n)}</sup>'
            for n in numbers
        )

    return MARKER.sub(link, esc(display_text(text)))


def citation_html(
    *, number: int, locator: str, title: str, breadcrumb: str, quote_text: str, start: int,
    spans: Sequence[Span], anchor: str,
) -> str:  # fmt: skip
    """A citation card: number, locator, document and breadcrumb, and the passage with quoted spans marked."""
    crumbs = f'<span class="cite-crumb">{esc(breadcrumb)}</span>' if breadcrumb else ""
    return (
        f'<div class="cite-card" id="{esc(anchor)}">'
        f'<div class="cite-head"><span class="cite-num">[{number}]</span>'
        f'<span class="cite-loc">{esc(locator)}</span></div>'
        f'<div class="cite-meta"><span class="cite-doc">{esc(title)}</span>{crumbs}</div>'
        f'<div class="passage-text">{highlight(quote_text, start, spans)}</div>'
        "</div>"
    )


def chunks_html(
    chunks: Sequence[Chunk],
    *,
    target: Span | None = None,
    spans: Sequence[Span] = (),
    previous_breadcrumb: tuple[str, ...] = (),
    anchor: str = "target",
) -> str:
    """Consecutive passages of one document, with 编/章/节 (or section) headings where they change.

    Passages overlapping ``target`` are highlighted; inside them ``spans`` are
    marked (the sentences an answer quoted).  The first highlighted passage gets
    the HTML id ``anchor``.
    """
    out: list[str] = ['<div class="doc-view">']
    crumb = tuple(previous_breadcrumb)
    opened: list[int] = []  # depths of the sections opened here, innermost last
    anchored = False
    for chunk in chunks:
        bc = tuple(chunk.breadcrumb)
        if bc != crumb:
            same = 0
            while same < min(len(bc), len(crumb)) and bc[same] == crumb[same]:
                same += 1
            # a heading's section ends where the breadcrumb leaves it: clause 4 after the items of
            # "第3条" is back in the enclosing section, not under "第3条"
            while opened and opened[-1] >= same:
                opened.pop()
                out.append("</div>")
            for depth in range(same, len(bc)):
                level = min(depth, 3)
                heading = f'<div class="doc-h doc-h{level}">{esc(bc[depth])}</div>'
                out.append(f'<div class="doc-sec doc-sec{level}">{heading}')
                opened.append(depth)
            crumb = bc
        is_target = target is not None and chunk.start < target[1] and target[0] < chunk.end
        classes = "passage target" if is_target else "passage"
        ident = ""
        if is_target and not anchored:
            ident, anchored = f' id="{esc(anchor)}"', True
        # headings already say where a passage is; label only passages outside any heading
        label = (
            "" if chunk.kind == "statute" or bc else f'<div class="passage-loc">{esc(chunk.locator)}</div>'
        )
        marked = spans if is_target else ()
        out.append(
            f'<div class="{classes}"{ident}>{label}'
            f'<div class="passage-text">{highlight(chunk.text, chunk.start, marked)}</div></div>'
        )
    out.append("</div>" * (len(opened) + 1))
    return "".join(out)


def format_spans(spans: Iterable[Span]) -> str:
    return ",".join(f"{s}-{e}" for s, e in spans)


def parse_spans(raw: str | None) -> tuple[Span, ...]:
    spans: list[Span] = []
    for part in (raw or "").split(","):
        m = re.fullmatch(r"\s*(\d{1,9})-(\d{1,9})\s*", part)
        if m and int(m.group(1)) < int(m.group(2)):
            spans.append((int(m.group(1)), int(m.group(2))))
    return tuple(spans)


def parse_int(raw: object) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def page_url(path: str, **params: object) -> str:
    """A relative URL to a page with query parameters (for links inside HTML)."""
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items() if v not in (None, ""))
    return f"{path}?{query}" if query else path


_SCROLL_JS = _asset("scroll.js.html")


def scroll_script(element_id: str, block: str = "center") -> str:
    """A script (for ``st.html(..., unsafe_allow_javascript=True)``) that scrolls the element with
    ``element_id`` into view once it is rendered: ``center`` for a passage among its neighbours,
    ``start`` for a new answer, whose top is where reading begins."""
    return _SCROLL_JS % (json.dumps(element_id), json.dumps(block))


# The live "n / max" counter under the chat input: Streamlit's own counter (max_chars) refuses a paste
# over the limit outright, and the input's text never reaches Python before it is sent.
_COUNTER_JS = _asset("counter.js.html")


def counter_script(max_chars: int) -> str:
    return _COUNTER_JS % int(max_chars)


CSS = _asset("style.css.html")
