"""Streamlit chat over the sources folder. Thin: widgets and session state; the library does the work."""

from __future__ import annotations

import json

import streamlit as st

from qa.errors import QAError
from qa.render import answer_html, conversation_markdown, passage_html
from qa.service import QAService
from qa.settings import Settings

st.set_page_config(page_title="Cited Q&A", page_icon="📚", layout="wide")


@st.cache_resource(show_spinner="Loading the model and the index…")
def get_service(settings_json: str) -> QAService:
    """One service (model + Chroma client) per distinct settings, shared by all sessions."""
    return QAService(Settings.model_validate_json(settings_json))


def run_index(service: QAService) -> None:
    """Re-index with a progress bar, then show what changed."""
    bar = st.progress(0.0, text="Indexing…")

    def update(p: object) -> None:
        files_done, files_total = getattr(p, "files_done", 0), getattr(p, "files_total", 0) or 1
        chunks_done, chunks_total = getattr(p, "chunks_done", 0), getattr(p, "chunks_total", 0)
        frac = chunks_done / chunks_total if chunks_total else files_done / files_total
        eta = getattr(p, "eta", None)
        eta_text = f", ETA {eta:.0f}s" if eta and chunks_done < chunks_total else ""
        bar.progress(
            min(frac, 1.0),
            text=f"Files {files_done}/{files_total} · chunks embedded {chunks_done}/{chunks_total} "
            f"({getattr(p, 'rate', 0.0):.1f}/s{eta_text})",
        )

    try:
        report = service.index(progress=update)
    except QAError as exc:
        bar.empty()
        st.error(str(exc))
        return
    bar.empty()
    f, c = report.files, report.chunks
    st.session_state.index_summary = (
        f"Indexed in {report.seconds:.1f}s: {f['added']} added, {f['changed']} changed, "
        f"{f['removed']} removed, {f['unchanged']} unchanged, {f['failed']} failed · "
        f"{c['embedded']} chunks embedded, {c['reused']} reused, {c['deleted']} deleted."
    )
    st.session_state.index_errors = report.errors


def sidebar(service: QAService) -> None:
    """Sources, upload, re-index and settings."""
    with st.sidebar:
        st.header("Sources")
        if st.button("Re-index", use_container_width=True, disabled=service.is_indexing()):
            run_index(service)
        if summary := st.session_state.get("index_summary"):
            st.success(summary)
        for err in st.session_state.get("index_errors", []):
            st.warning(f"{err['source']}: {err['error']}")
        try:
            rows = service.list_sources()
        except QAError as exc:
            st.error(str(exc))
            rows = []
        if rows:
            st.dataframe(
                [{k: r.get(k) for k in ("source", "status", "chunks", "size", "kind", "error")}
                 for r in rows],
                hide_index=True,
                use_container_width=True,
            )
        else:
            st.info(f"No documents yet: add files to {service.sources_dir} or upload them below.")
        uploads = st.file_uploader(
            "Add documents", accept_multiple_files=True,
            type=["txt", "md", "html", "htm", "pdf", "docx"],
        )
        replace = st.checkbox("Replace files with the same name", value=True)
        if uploads and st.button("Upload and index", use_container_width=True):
            for up in uploads:
                try:
                    name, action = service.save_upload(up.name, up.getvalue(), replace=replace)
                    st.write(f"{name}: {action}")
                except QAError as exc:
                    st.error(str(exc))
            run_index(service)
        names = [r["source"] for r in rows if r.get("status") != "failed" or r.get("chunks")]
        if names:
            victim = st.selectbox("Remove a source", ["—", *names])
            if victim != "—" and st.button(f"Remove {victim}", use_container_width=True):
                try:
                    service.delete_source(victim)
                except QAError as exc:
                    st.error(str(exc))
                run_index(service)
        st.divider()
        st.caption(
            f"Answerer: {service.settings.answerer} · retriever: {service.settings.retriever} · "
            f"passages: {service.settings.top_k}"
        )


def render_answer(service: QAService, answer: dict, key: str) -> None:
    """An answer with its citations; each opens its passage with the quote highlighted."""
    if answer.get("refused"):
        st.warning(answer["answer"])
    else:
        st.html(answer_html(answer["answer"]))
    for warning in answer.get("warnings", []):
        st.caption(f"⚠ {warning}")
    groups = [("Citations", answer.get("citations", []))]
    if answer.get("refused") and answer.get("related"):
        groups = [("Related passages (not an answer)", answer["related"])]
    for title, cits in groups:
        if not cits:
            continue
        st.markdown(f"**{title}**")
        for i, cit in enumerate(cits):
            label = f"[{cit['n']}] {cit['source']}" + (f", page {cit['page']}" if cit.get("page") else "")
            with st.expander(label):
                try:
                    text = service.show(cit["source"]).text
                except QAError as exc:
                    st.error(str(exc))
                    continue
                if text[cit["start"] : cit["end"]] == cit["quote"]:
                    st.caption("✅ Quote verified against the current file")
                else:
                    st.caption("⚠ Stale: the file changed since this answer; re-ask to refresh")
                st.html(passage_html(text, cit["start"], cit["end"]))
                if st.toggle("Show whole source", key=f"{key}-{i}-whole"):
                    st.html(passage_html(text, cit["start"], cit["end"], context=len(text)))


def main() -> None:
    """Page body."""
    settings = Settings()
    try:
        service = get_service(settings.model_dump_json())
        if service.needs_index():
            run_index(service)
    except QAError as exc:
        st.error(str(exc))
        st.stop()
    sidebar(service)

    st.title("Ask your documents")
    st.caption("Every answer is made of verbatim quotes, each checked against its source.")
    messages: list[dict] = st.session_state.setdefault("messages", [])
    cols = st.columns([1, 1, 6])
    if cols[0].button("New conversation"):
        messages.clear()
    if messages:
        cols[1].download_button(
            "Export", conversation_markdown(messages), file_name="conversation.md",
            mime="text/markdown",
        )
    for i, msg in enumerate(messages):
        with st.chat_message(msg["role"]):
            if msg["role"] == "user":
                st.text(msg["content"])
            else:
                render_answer(service, msg["answer"], key=f"m{i}")

    if question := st.chat_input("Ask a question about the sources"):
        history = [m["content"] for m in messages if m["role"] == "user"]
        messages.append({"role": "user", "content": question})
        with st.chat_message("user"):
            st.text(question)
        with st.chat_message("assistant"), st.spinner("Searching the sources…"):
            try:
                answer = service.ask(question, history).to_json_dict()
            except QAError as exc:
                answer = {"question": question, "answer": str(exc), "refused": True, "citations": []}
            messages.append({"role": "assistant", "content": json.dumps(answer), "answer": answer})
            render_answer(service, answer, key=f"m{len(messages) - 1}")


main()
