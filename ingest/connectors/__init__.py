"""The built-in connectors: a page, a sitemap, a crawl of a site section, a Git repository's docs."""
