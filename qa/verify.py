"""Every quote is checked against its source's current text before an answer leaves the library."""

from __future__ import annotations

from qa.domain import Citation
from qa.errors import SourceError
from qa.sources import SourceReader


def verify_citations(
    citations: list[Citation], reader: SourceReader
) -> tuple[list[Citation], list[str]]:
    """Keep the citations whose quote is exactly ``text[start:end]`` of the source now.

    Returns:
        The verified citations (``verified=True``) and a warning for each one dropped.

    """
    kept: list[Citation] = []
    warnings: list[str] = []
    for cit in citations:
        try:
            text = reader.read(cit.source).text
        except SourceError as exc:
            warnings.append(f"Dropped a quote of {cit.source}: {exc.reason}.")
            continue
        if text[cit.start : cit.end] == cit.quote:
            kept.append(cit.model_copy(update={"verified": True}))
        else:
            warnings.append(
                f"Dropped a quote of {cit.source}: the file changed since it was indexed; "
                "re-index to refresh it."
            )
    return kept, warnings
