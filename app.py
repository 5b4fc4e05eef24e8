"""Streamlit chat over the sources folder.

Thin: widgets and session state; the library does the work, ``frontends.sidebar`` draws the
sidebar (sources, conversations, indexing) and ``frontends.citations`` the citations.

All document and model text reaches the page either as plain text (``st.text``, dataframes), as
Markdown escaped by ``frontends.render.md_text``, or as HTML built by the escaping helpers of
``frontends.render`` and ``frontends.citations``; never as raw HTML.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from core.errors import QAError
from core.settings import Settings
from core.types import Answer, Citation, SourceRow
from core.types import Turn as HistoryTurn
from frontends.citations import (
    PAGE_SCRIPT,
    PAGE_STYLE,
    Label,
    answer_html,
    answer_text,
    citation_key,
    citation_label,
    copy_button_html,
    structured_passage_html,
)
from frontends.render import (
    Turn,
    confidence_line,
    conversation_history,
    conversation_markdown,
    disagreement_groups,
    element_id,
    format_size,
    interpretation_line,
    md_text,
    passage_html,
    scroll_script,
    source_table,
    source_view_html,
)
from frontends.sidebar import (
    conversations_panel,
    index_panel,
    load_conversation,
    save_turn,
    settings_panel,
    sources_panel,
)
from qa.service import QAService
from qa.verify import is_exact

st.set_page_config(page_title="Cited Q&A", page_icon="📚", layout="wide")


@st.cache_resource(show_spinner="Loading the model and the index…")
def get_service(key: str, _settings: Settings) -> QAService:
    """One service (model + Chroma client) per distinct settings (``key``), shared by sessions.

    The settings object itself is not hashed (leading underscore): its key stands for it, and
    that key covers the API key without holding it.
    """
    return QAService(_settings)


def show_citation(service: QAService, cit: Citation, prefix: str, titles: dict[str, str]) -> None:
    """One citation; its passage is drawn only when opened (a marker click opens it)."""
    key = citation_key(prefix, cit.n)
    box = st.expander(citation_label(cit, titles), key=key, on_change="rerun")
    with box:
        if not box.open:
            return
        label = Label.of(cit, titles)
        try:
            src = service.show(cit.source)
        except QAError as exc:
            st.error(md_text(str(exc)))
            return
        where = f" · page {cit.page} of {len(src.pages)}" if cit.page and src.pages else ""
        st.caption(md_text(f"{label.file}{where}"))
        if not is_exact(src.text, cit):
            st.badge(
                "Changed: the file changed since this answer; ask again to refresh",
                icon=":material/warning:",
                color="orange",
            )
            st.text(f"Quoted then: {cit.quote}")
            return
        st.badge("Verified against the current file", icon=":material/check:", color="green")
        st.html(structured_passage_html(src, cit.start, cit.end))
        views = ["Passage", "Whole document"] + (["Original page"] if src.kind == "pdf" else [])
        view = st.segmented_control(
            "View", views, default="Passage", key=f"{key}-view", label_visibility="collapsed"
        )
        if view == "Whole document":
            dom_id = element_id(key, "quote")
            st.html(source_view_html(src.text, cit.start, cit.end, dom_id))
            st.html(scroll_script(dom_id), unsafe_allow_javascript=True)
        elif view == "Original page":
            show_page(service, cit, key)


def show_page(service: QAService, cit: Citation, key: str) -> None:
    """The PDF page the quote is on, rendered, the quote's characters highlighted."""
    try:
        data = service.original(cit.source)  # read once: drawn from, and offered for download
        page = service.page_view(cit, data) if data is not None else None
    except QAError as exc:
        st.error(md_text(str(exc)))
        return
    if page is None or data is None:
        st.info("This page cannot be drawn from the current file; the passage above is exact.")
        return
    # PNG, not Streamlit's JPEG default: the highlight's colours and edges stay exact.
    st.image(
        page.png,
        caption=f"Page {page.page}, the quote highlighted",
        width="stretch",
        output_format="PNG",
    )
    st.download_button(
        "Download the original file",
        data,
        file_name=cit.source.rsplit("/", 1)[-1],
        key=f"{key}-download",
        on_click="ignore",
    )


def show_disagreement(answer: Answer, titles: dict[str, str]) -> None:
    """Show sources that give different accounts, side by side, each with its citation."""
    for topic, cits in disagreement_groups(answer):
        st.markdown(f"**Sources disagree:** {md_text(topic)}")
        for col, cit in zip(st.columns(len(cits)), cits, strict=True):
            with col, st.container(border=True):
                st.caption(citation_label(cit, titles))
                st.html(passage_html(cit.quote, 0, len(cit.quote), context=0))


def render_answer(service: QAService, answer: Answer, prefix: str, titles: dict[str, str]) -> None:
    """An answer with markers [n] that open their citation; a copy button; the citations."""
    if answer.refused:
        st.warning(md_text(answer.answer))
    else:
        st.html(answer_html(answer, prefix, titles))
        st.html(copy_button_html(answer_text(answer, titles), f"{prefix}-copy"))
    if answer.confidence is not None:
        st.caption(confidence_line(answer))
    for warning in answer.warnings:
        st.caption(f"⚠ {md_text(warning)}")
    show_disagreement(answer, titles)
    groups = [("Citations", answer.citations)]
    if answer.refused and answer.related:
        groups = [("Related passages (not an answer)", answer.related)]
    for title, cits in groups:
        if cits:
            st.markdown(f"**{title}**")
        for cit in cits:
            show_citation(service, cit, prefix, titles)


def first_screen(service: QAService, rows: list[SourceRow]) -> None:
    """Before the first question: what the documents are, and questions they answer."""
    ready = [r for r in rows if r.status == "ok"]
    if not rows:
        st.info(
            f"No documents yet: add files to {md_text(service.sources_dir)} or upload them "
            "in the sidebar."
        )
        return
    if ready:
        st.markdown(f"**{len(ready)} documents ready to ask about**")
        cols = st.columns(min(3, len(ready)))
        for i, row in enumerate(ready[:6]):
            with cols[i % len(cols)], st.container(border=True):
                st.markdown(f"**{md_text(row.title or row.source)}**")
                pages = f" · {row.pages} pages" if row.pages else ""
                st.caption(md_text(f"{row.source} · {format_size(row.size)}{pages}"))
        if len(ready) > 6:
            st.caption(f"…and {len(ready) - 6} more (see “All sources” below).")
    suggestions = suggested_questions(service, rows)
    if suggestions:
        st.markdown("**Try asking**")
        for i, question in enumerate(suggestions):
            if st.button(md_text(question), key=f"suggest-{i}", icon=":material/help:"):
                st.session_state.pending_question = question
                st.rerun()


def suggested_questions(service: QAService, rows: list[SourceRow]) -> list[str]:
    """A few questions the documents answer (the service makes them once per index state)."""
    if not any(r.status == "ok" for r in rows):
        return []
    try:
        return service.suggestions()
    except QAError:
        return []


def all_sources(rows: list[SourceRow]) -> None:
    """Every source with title, status, type, size, pages and when it was indexed."""
    failed = sum(1 for r in rows if r.status == "failed")
    label = f"All sources: {len(rows)} files" + (f" · {failed} could not be read" if failed else "")
    with st.expander(label):
        st.dataframe(source_table(rows), hide_index=True, width="stretch")


def ask(service: QAService, question: str, messages: list[Turn], scope: list[str]) -> None:
    """Ask, show the reply as it comes, keep it in the conversation and save it."""
    history = conversation_history(messages)
    asked = Turn("user", question)
    with st.chat_message("user"):
        st.text(question)
    with (
        st.chat_message("assistant"),
        st.spinner("Searching the sources and checking every quote…", show_time=True),
    ):
        try:
            answer = ask_streaming(service, question, history, scope)
            reply = Turn("assistant", answer.answer, answer=answer)
        except QAError as exc:
            reply = Turn("assistant", str(exc), error=str(exc))
    # The question and its reply join the conversation (and its saved copy) together.
    messages += [asked, reply]
    save_turn(service, asked, reply)


def ask_streaming(
    service: QAService, question: str, history: list[HistoryTurn], scope: list[str]
) -> Answer:
    """Ask; an LLM draft shows as escaped, unverified text until the verified answer replaces it."""
    draft_box = st.empty()
    draft = ""
    final = None
    # closing(): the answer's pins (generation, scope) are released here, not at garbage collection
    with contextlib.closing(service.ask_stream(question, history, scope)) as parts:
        for part in parts:
            if isinstance(part, str):
                draft += part
                with draft_box.container():
                    st.caption("Draft from the model (unverified; quotes are being checked)…")
                    st.text(draft)
            else:
                final = part
    draft_box.empty()
    if final is None:  # pragma: no cover - every answerer's stream ends with an Answer
        raise QAError("The answerer returned nothing.")
    return final


def main() -> None:
    """Page body."""
    settings = Settings()
    try:
        service = get_service(settings.cache_key(), settings)
        # Once per service: a run in which every file failed leaves the store empty, and its
        # errors must stay on screen instead of starting the same run again.
        if service.job.state().run == 0 and service.needs_index() and not service.is_indexing():
            service.start_index()
        rows = service.list_sources()
    except QAError as exc:
        st.error(md_text(str(exc)))
        st.stop()
    st.html(PAGE_STYLE)
    st.html(PAGE_SCRIPT, unsafe_allow_javascript=True)
    load_conversation(service)
    titles = {r.source: r.title for r in rows if r.title}
    with st.sidebar:
        scope = sources_panel(service, rows)
        index_panel(service)
        conversations_panel(service)
        settings_panel(service)

    st.title("Ask your documents")
    st.caption("Every answer is made of verbatim quotes, each checked against its source.")
    messages: list[Turn] = st.session_state.setdefault("messages", [])
    if not messages:
        first_screen(service, rows)
    if rows:
        all_sources(rows)
    conv = st.session_state.get("conversation", 0)
    if messages:
        st.download_button(
            "Export as Markdown",
            conversation_markdown(messages),
            file_name="conversation.md",
            mime="text/markdown",
            on_click="ignore",
        )
    for i, msg in enumerate(messages):
        with st.chat_message(msg.role):
            if msg.role == "user":
                st.text(msg.content)
                reply = messages[i + 1] if i + 1 < len(messages) else None
                line = interpretation_line(reply.answer) if reply and reply.answer else None
                if line:
                    st.caption(md_text(line))
            elif msg.answer is not None:
                render_answer(service, msg.answer, f"c{conv}-m{i}", titles)
            elif msg.error is not None:
                st.warning(md_text(msg.error))
            else:
                st.text(msg.content)

    typed = st.chat_input("Ask a question (follow-ups use the conversation so far)")
    question = typed or st.session_state.pop("pending_question", None)
    if question:
        ask(service, question, messages, scope)
        st.rerun()  # draw the whole conversation, with its buttons enabled


main()
