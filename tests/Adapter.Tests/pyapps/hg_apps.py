"""Mercurial's hgweb over a repository the test made with the hg command (issue 19)."""
from mercurial import hgweb


def create(path):
    return hgweb.hgweb(path.encode())
