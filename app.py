"""Streamlit chat over the sources folder.

Thin: widgets and session state; the library does the work.

All document and model text reaches the page either as plain text (``st.text``, dataframes), as
Markdown escaped by ``frontends.render.md_text``, or as HTML built by the escaping helpers of
``frontends.render``; never as raw HTML.
"""

from __future__ import annotations

import streamlit as st

from core.errors import QAError
from core.progress import Progress
from core.settings import Settings
from core.types import Answer, Citation, SourceRow
from core.types import Turn as HistoryTurn
from frontends.render import (
    Turn,
    answer_html,
    citation_label,
    confidence_line,
    conversation_history,
    conversation_markdown,
    disagreement_groups,
    element_id,
    index_summary,
    interpretation_line,
    md_text,
    passage_html,
    scroll_script,
    settings_summary,
    source_table,
    source_view_html,
)
from qa.service import QAService
from qa.verify import is_exact

st.set_page_config(page_title="Cited Q&A", page_icon="📚", layout="wide")

UPLOAD_TYPES = ["txt", "md", "html", "htm", "pdf", "docx"]


@st.cache_resource(show_spinner="Loading the model and the index…")
def get_service(key: str, _settings: Settings) -> QAService:
    """One service (model + Chroma client) per distinct settings (``key``), shared by sessions.

    The settings object itself is not hashed (leading underscore): its key stands for it, and
    that key covers the API key without holding it.
    """
    return QAService(_settings)


def run_index(service: QAService) -> bool:
    """Re-index with a progress bar; keep a summary of what changed for the next run."""
    bar = st.progress(0.0, text="Indexing…")

    def update(p: Progress) -> None:
        bar.progress(p.fraction, text=p.describe())

    try:
        report = service.index(progress=update)
    except QAError as exc:
        bar.empty()
        st.session_state.index_summary = None
        st.session_state.index_errors = [f"index: {exc}"]
        return False
    bar.empty()
    st.session_state.index_summary = index_summary(report)
    st.session_state.index_errors = [f"{e.source}: {e.error}" for e in report.errors]
    return True


def upload_and_index(service: QAService, uploads: list, replace: bool) -> None:
    """Save every uploaded file, index once, remember what happened to each file."""
    results = []
    batch: set[str] = set()  # two files of one name in one upload are both kept
    for up in uploads:
        try:
            name, action = service.save_upload(up.name, up.getvalue(), replace=replace, batch=batch)
            results.append(f"{name}: {action}")
        except QAError as exc:
            results.append(f"{up.name}: refused ({exc})")
    st.session_state.upload_results = results
    run_index(service)
    st.session_state.uploader_n = st.session_state.get("uploader_n", 0) + 1  # empties the widget


def sidebar(service: QAService, rows: list[SourceRow]) -> None:
    """Upload, remove, re-index, last index summary and settings."""
    with st.sidebar:
        st.header("Sources")
        for line in st.session_state.get("upload_results", []):
            st.caption(md_text(line))
        if summary := st.session_state.get("index_summary"):
            st.success(summary)
        for err in st.session_state.get("index_errors", []):
            st.warning(md_text(err))

        uploads = st.file_uploader(
            "Add documents (several at once)",
            accept_multiple_files=True,
            type=UPLOAD_TYPES,
            key=f"uploader-{st.session_state.get('uploader_n', 0)}",
        )
        replace = st.checkbox("Replace files with the same name", value=True)
        busy = service.is_indexing()
        if uploads and st.button("Upload and index", width="stretch", disabled=busy):
            upload_and_index(service, uploads, replace)
            st.rerun()
        if st.button("Re-index", width="stretch", disabled=busy):
            st.session_state.upload_results = []
            run_index(service)
            st.rerun()

        names = [r.source for r in rows if not r.status.startswith("removed")]
        if names:
            victim = st.selectbox("Remove a source", ["—", *names])
            label = f"Remove {md_text(victim)}"
            if victim != "—" and st.button(label, width="stretch", disabled=busy):
                try:
                    service.delete_source(victim)
                    st.session_state.upload_results = [f"{victim}: removed"]
                except QAError as exc:
                    st.session_state.upload_results = [f"{victim}: {exc}"]
                run_index(service)
                st.rerun()

        st.divider()
        st.subheader("Settings")
        for label, value in settings_summary(service.settings):
            st.caption(f"**{label}:** {md_text(value)}")
        st.caption("Set them as `QA_*` environment variables (see README) and restart.")


def sources_view(service: QAService, rows: list[SourceRow]) -> None:
    """Every source with title, type, size, chunks, indexed at, status and error."""
    chunks = sum(r.chunks or 0 for r in rows)
    failed = sum(1 for r in rows if r.status == "failed")
    label = f"Sources: {len(rows)} files · {chunks} chunks"
    if failed:
        label += f" · {failed} failed"
    with st.expander(label, expanded=not rows):
        if rows:
            st.dataframe(source_table(rows), hide_index=True, width="stretch")
        else:
            st.info(
                f"No documents yet: add files to {md_text(service.sources_dir)} or upload them "
                "in the sidebar."
            )


def show_citation(service: QAService, cit: Citation, key: str) -> None:
    """One citation: its source and page, a verified/stale badge, the passage, the whole source."""
    with st.expander(citation_label(cit)):
        try:
            src = service.show(cit.source)
        except QAError as exc:
            st.error(md_text(str(exc)))
            return
        page = f" · page {cit.page}" if cit.page else ""
        st.caption(md_text(f"{cit.source}{page} · characters {cit.start}–{cit.end}"))
        if is_exact(src.text, cit):
            st.badge("Verified against the current file", icon=":material/check:", color="green")
        else:
            st.badge(
                "Stale: the file changed since this answer; re-ask to refresh",
                icon=":material/warning:",
                color="orange",
            )
            st.text(f"Quoted then: {cit.quote}")
            return
        st.html(passage_html(src.text, cit.start, cit.end))
        if st.toggle("Show whole source", key=f"{key}-whole"):
            dom_id = element_id(key, "quote")
            st.html(source_view_html(src.text, cit.start, cit.end, dom_id))
            st.html(scroll_script(dom_id), unsafe_allow_javascript=True)


def show_disagreement(answer: Answer) -> None:
    """Show sources that give different accounts, side by side, each with its citation."""
    for topic, cits in disagreement_groups(answer):
        st.markdown(f"**Sources disagree:** {md_text(topic)}")
        for col, cit in zip(st.columns(len(cits)), cits, strict=True):
            with col, st.container(border=True):
                st.caption(citation_label(cit))
                st.html(passage_html(cit.quote, 0, len(cit.quote), context=0))


def render_answer(service: QAService, answer: Answer, key: str) -> None:
    """Show an answer with markers [n]; each citation opens its passage, quote marked."""
    if answer.refused:
        st.warning(md_text(answer.answer))
    else:
        st.html(answer_html(answer.answer))
    if answer.confidence is not None:
        st.caption(confidence_line(answer))
    for warning in answer.warnings:
        st.caption(f"⚠ {md_text(warning)}")
    show_disagreement(answer)
    groups = [("Citations", answer.citations)]
    if answer.refused and answer.related:
        groups = [("Related passages (not an answer)", answer.related)]
    for title, cits in groups:
        if cits:
            st.markdown(f"**{title}**")
        for i, cit in enumerate(cits):
            show_citation(service, cit, key=f"{key}-{i}")


def new_conversation() -> None:
    """Forget the messages (and the widgets that belonged to them)."""
    st.session_state.messages = []
    st.session_state.conversation = st.session_state.get("conversation", 0) + 1


def ask_streaming(service: QAService, question: str, history: list[HistoryTurn]) -> Answer:
    """Ask; an LLM draft shows as escaped, unverified text until the verified answer replaces it."""
    draft_box = st.empty()
    draft = ""
    final = None
    for part in service.ask_stream(question, history):
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
        if service.needs_index():
            run_index(service)
        rows = service.list_sources()
    except QAError as exc:
        st.error(md_text(str(exc)))
        st.stop()
    sidebar(service, rows)

    st.title("Ask your documents")
    st.caption("Every answer is made of verbatim quotes, each checked against its source.")
    sources_view(service, rows)

    messages: list[Turn] = st.session_state.setdefault("messages", [])
    conv = st.session_state.get("conversation", 0)
    cols = st.columns([2, 2, 8])
    cols[0].button("New conversation", on_click=new_conversation, disabled=not messages)
    if messages:
        cols[1].download_button(
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
                render_answer(service, msg.answer, key=f"c{conv}-m{i}")
            elif msg.error is not None:
                st.warning(md_text(msg.error))
            else:
                st.text(msg.content)

    if question := st.chat_input("Ask a question (follow-ups use the conversation so far)"):
        history = conversation_history(messages)
        messages.append(Turn("user", question))
        with st.chat_message("user"):
            st.text(question)
        with (
            st.chat_message("assistant"),
            st.spinner("Searching the sources and checking every quote…", show_time=True),
        ):
            try:
                answer = ask_streaming(service, question, history)
                messages.append(Turn("assistant", answer.answer, answer=answer))
            except QAError as exc:
                messages.append(Turn("assistant", str(exc), error=str(exc)))
        st.rerun()  # draw the whole conversation, with New conversation and Export enabled


main()
