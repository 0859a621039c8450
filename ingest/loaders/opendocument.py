"""ODT: OpenDocument text read from its ``content.xml`` with lxml (entities off): headings by their
outline level, paragraphs and list items in order, tables row by row with their header; the title
from ``meta.xml``. No ODF library needed for reading text: the format is plain, documented XML."""

from __future__ import annotations

from lxml import etree

from ingest.loaders.archive import ODF, open_archive, read_xml
from ingest.loaders.base import ParsedDocument, SectionBuilder
from ingest.loaders.tabular import table_block

TEXT, TABLE = ODF["text"], ODF["table"]
DC = "http://purl.org/dc/elements/1.1/"


def _text(element: etree._Element) -> str:
    """A paragraph's text with ODF's space, tab and line-break elements turned into characters."""
    out: list[str] = [element.text or ""]
    for child in element:
        local = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if local == "s":
            count = child.get(f"{{{TEXT}}}c", "1")
            out.append(" " * min(int(count) if count.isdigit() else 1, 100))
        elif local == "tab":
            out.append("\t")
        elif local == "line-break":
            out.append("\n")
        elif local not in ("note", "annotation"):
            out.append(_text(child))
        out.append(child.tail or "")
    return "".join(out)


def _walk(node: etree._Element, builder: SectionBuilder) -> None:
    for child in node:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.namespace == TEXT and qname.localname == "h":
            level = child.get(f"{{{TEXT}}}outline-level", "1")
            builder.heading_at(int(level) if level.isdigit() else 1, _text(child).strip())
        elif qname.namespace == TEXT and qname.localname == "p":
            builder.add_block(_text(child).strip())
        elif qname.namespace == TABLE and qname.localname == "table":
            rows = [
                [
                    "\n".join(_text(p) for p in cell.iter(f"{{{TEXT}}}p"))
                    for cell in row.iter(f"{{{TABLE}}}table-cell")
                ]
                for row in child.iter(f"{{{TABLE}}}table-row")
            ]
            builder.add_block(table_block(rows))
        else:  # lists, sections, frames: their paragraphs, in order
            _walk(child, builder)


def load_odt(data: bytes, *, name: str) -> ParsedDocument:
    with open_archive(data, name=name, kind="ODT") as archive:
        content = read_xml(archive, "content.xml", name=name)
        meta = read_xml(archive, "meta.xml", name=name) if "meta.xml" in archive.namelist() else None
    body = content.find(f"{{{ODF['office']}}}body")
    builder = SectionBuilder()
    if body is not None:
        _walk(body, builder)
    title_element = meta.find(f".//{{{DC}}}title") if meta is not None else None
    title = (title_element.text or "").strip() if title_element is not None else ""
    return builder.build(title=title or None)
