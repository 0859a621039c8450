"""EPUB: the chapters in reading order (the package's spine), each under its title from the table of
contents (EPUB 3 nav or EPUB 2 NCX; else its first heading), its own headings below that; every
passage cites its chapter. Read with zipfile and lxml (entities off): EPUB is a documented container
of XHTML, and the usual library for it (EbookLib) is AGPL, which an Apache-2.0 service cannot ship."""

from __future__ import annotations

import posixpath
import zipfile
from urllib.parse import unquote, urldefrag

from backend.errors import InvalidInput
from ingest.loaders.archive import open_archive, read_xml
from ingest.loaders.base import ParsedDocument
from ingest.loaders.html import load_html
from ingest.loaders.located import LocatedBuilder

CONTAINER = "urn:oasis:names:tc:opendocument:xmlns:container"
OPF = "http://www.idpf.org/2007/opf"
DC = "http://purl.org/dc/elements/1.1/"
NCX = "http://www.daisy.org/z3986/2005/ncx/"
XHTML = "http://www.w3.org/1999/xhtml"
MAX_CHAPTERS = 5000


def _resolve(base: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(base, unquote(urldefrag(href).url)))


def _toc_titles(
    archive: zipfile.ZipFile, manifest: dict[str, tuple[str, str, str]], spine_toc: str | None, name: str
) -> dict[str, str]:
    """Chapter path -> title, from the EPUB 3 navigation document, else the EPUB 2 NCX."""
    titles: dict[str, str] = {}
    nav = next((path for path, _, props in manifest.values() if "nav" in props.split()), None)
    if nav is not None:
        root = read_xml(archive, nav, name=name)
        for anchor in root.iter(f"{{{XHTML}}}a"):
            href, text = anchor.get("href"), " ".join("".join(anchor.itertext()).split())
            if href and text:
                titles.setdefault(_resolve(posixpath.dirname(nav), href), text)
    elif spine_toc and spine_toc in manifest:
        ncx = manifest[spine_toc][0]
        root = read_xml(archive, ncx, name=name)
        for point in root.iter(f"{{{NCX}}}navPoint"):
            label, content = point.find(f"{{{NCX}}}navLabel/{{{NCX}}}text"), point.find(f"{{{NCX}}}content")
            if (
                label is not None
                and content is not None
                and content.get("src")
                and (label.text or "").strip()
            ):
                titles.setdefault(
                    _resolve(posixpath.dirname(ncx), content.get("src", "")), label.text.strip()
                )
    return titles


def load_epub(data: bytes, *, name: str) -> ParsedDocument:
    with open_archive(data, name=name, kind="EPUB") as archive:
        container = read_xml(archive, "META-INF/container.xml", name=name)
        rootfile = container.find(f".//{{{CONTAINER}}}rootfile")
        if rootfile is None or not rootfile.get("full-path"):
            raise InvalidInput(f"{name} names no package document in META-INF/container.xml")
        opf_path = rootfile.get("full-path", "")
        package = read_xml(archive, opf_path, name=name)
        base = posixpath.dirname(opf_path)
        manifest = {
            item.get("id", ""): (
                _resolve(base, item.get("href", "")),
                item.get("media-type", ""),
                item.get("properties", ""),
            )
            for item in package.iter(f"{{{OPF}}}item")
        }
        spine = package.find(f"{{{OPF}}}spine")
        refs = [ref.get("idref", "") for ref in spine.iter(f"{{{OPF}}}itemref")] if spine is not None else []
        if len(refs) > MAX_CHAPTERS:
            raise InvalidInput(f"{name} has {len(refs):,} chapters; the limit is {MAX_CHAPTERS:,}")
        titles = _toc_titles(archive, manifest, spine.get("toc") if spine is not None else None, name)
        title_element = package.find(f".//{{{DC}}}title")
        builder = LocatedBuilder()
        for number, ref in enumerate((r for r in refs if r in manifest), start=1):
            path, media, _ = manifest[ref]
            if "html" not in media:
                continue
            try:
                chapter = load_html(archive.read(path), name=f"{name}/{path}")
            except KeyError:
                continue  # listed but missing: a broken book loses that chapter, not the rest
            heading = titles.get(path) or chapter.title or f"Chapter {number}"
            for section in chapter.sections:
                inner = section.heading[1:] if section.heading[:1] == (heading,) else section.heading
                builder.part(
                    (heading, *inner), chapter.text[section.start : section.end], {"chapter": number}
                )
    title = (title_element.text or "").strip() if title_element is not None else ""
    return builder.build(title=title or None)
