"""The app's sidebar: scope, documents, background indexing, saved conversations, settings.

Streamlit widgets and session state only: which documents a question uses, adding and removing
them, indexing in the background, reopening conversations.

Every text from a document, a file name or a user reaches the page escaped (``md_text``).
"""

from __future__ import annotations

import math

import streamlit as st

from core.errors import QAError
from core.types import REMOVED, SourceRow
from frontends.render import Turn, index_summary, md_text, settings_summary
from index.loaders import SUPPORTED_SUFFIXES
from qa.service import QAService

# What the loaders read, and nothing else (index.loaders owns the list).
UPLOAD_TYPES = sorted(suffix.lstrip(".") for suffix in SUPPORTED_SUFFIXES)


# documents -------------------------------------------------------------------------------------
def sources_panel(service: QAService, rows: list[SourceRow]) -> list[str]:
    """Scope, upload and removal; returns the sources the next question is limited to."""
    st.header("Documents")
    ready = [r for r in rows if r.status == "ok"]
    titles = {r.source: r.title or r.source for r in ready}
    names = sorted(titles, key=lambda s: titles[s].casefold())
    chosen = [s for s in st.session_state.get("scope", []) if s in titles]
    st.session_state.scope = chosen  # a removed document leaves the scope, not an error
    scope = st.multiselect(
        "Ask only in",
        names,
        format_func=lambda s: titles.get(s, s),
        placeholder="All documents",
        key="scope",
        help="Questions use only the chosen documents; leave empty to use them all.",
    )
    for line in st.session_state.get("upload_results", []):
        st.caption(md_text(line))
    limit_mb = max(1, math.floor(service.settings.max_file_mb))
    uploads = st.file_uploader(
        "Add documents",
        accept_multiple_files=True,
        type=UPLOAD_TYPES,
        key=f"uploader-{st.session_state.get('uploader_n', 0)}",
        max_upload_size=limit_mb,
    )
    replace = st.checkbox("Replace documents with the same name", value=True)
    busy = service.is_indexing()
    if uploads and st.button("Upload and index", width="stretch", disabled=busy):
        upload(service, uploads, replace)
        st.rerun()
    present = [r.source for r in rows if r.status != REMOVED]
    if present:
        victim = st.selectbox("Remove a document", ["—", *present], key="victim")
        if victim != "—" and st.button(
            f"Remove {md_text(victim)}…", width="stretch", disabled=busy
        ):
            st.session_state.removing = victim
    # The dialog stays open across reruns until answered or dismissed.
    if name := st.session_state.get("removing"):
        confirm_remove(service, name)
    return list(scope)


def _dismiss(key: str) -> None:
    st.session_state.pop(key, None)


def upload(service: QAService, uploads: list, replace: bool) -> None:
    """Save the uploaded files, then re-index in the background.

    Empty, oversized and unsupported files are refused before saving. Only this batch's
    results are shown.
    """
    results = []
    batch: set[str] = set()  # two files of one name in one upload are both kept
    saved = 0
    for up in uploads:
        try:
            name, action = service.save_upload(up.name, up.getvalue(), replace=replace, batch=batch)
            results.append(f"{name}: {action}")
            saved += action != "unchanged"
        except QAError as exc:
            results.append(f"Not added: {exc}")
    st.session_state.upload_results = results
    if saved:
        service.start_index()
    st.session_state.uploader_n = st.session_state.get("uploader_n", 0) + 1  # empties the widget


@st.dialog("Remove this document?", on_dismiss=lambda: _dismiss("removing"))
def confirm_remove(service: QAService, name: str) -> None:
    """Ask before a file is deleted from the documents folder."""
    st.markdown(
        f"**{md_text(name)}** will be deleted from the documents folder "
        f"({md_text(service.sources_dir)}) and its passages leave the index. "
        "Answers quoting it can no longer be checked. This cannot be undone."
    )
    left, right = st.columns(2)
    if left.button("Remove", type="primary", width="stretch", key="confirm-remove"):
        try:
            service.delete_source(name)
            st.session_state.upload_results = [f"{name}: removed"]
            service.start_index()
        except QAError as exc:
            st.session_state.upload_results = [f"{name}: {exc}"]
        st.session_state.pop("victim", None)
        _dismiss("removing")
        st.rerun()
    if right.button("Keep it", width="stretch", key="cancel-remove"):
        _dismiss("removing")
        st.rerun()


# indexing --------------------------------------------------------------------------------------
def index_panel(service: QAService) -> None:
    """Indexing status, refreshed every second while a run is under way; Re-index."""
    running = service.is_indexing()  # this app's run or another program's
    st.session_state.indexing = running
    st.session_state.drawn_busy = running  # the page was drawn while an index run was on
    st.fragment(_index_status, run_every=1.0 if running else None)(service)


def _index_status(service: QAService) -> None:
    state = service.job.state()
    busy = service.is_indexing()
    st.session_state.indexing = busy
    if state.running:
        p = state.progress
        st.progress(
            p.fraction if p and p.phase == "embedding" else 0.0,
            text=md_text(p.status_line() if p else "Starting to index…"),
        )
        st.caption("You can keep asking: answers use the documents indexed so far.")
        return
    if st.session_state.get("drawn_busy") and not busy:
        # A run (this app's or another program's) ended since the page was drawn: redraw the
        # whole page once, with the new documents and the poll switched off.
        st.session_state.drawn_busy = False
        st.rerun()
    if busy:
        st.caption("Another program is indexing these documents…")
    elif state.error:
        st.error(md_text(state.error))
    elif state.report:
        st.success(md_text(index_summary(state.report)))
        for err in state.report.errors:
            st.warning(md_text(f"{err.source}: {err.error}"))
    if st.button("Re-index", width="stretch", disabled=busy):
        st.session_state.upload_results = []
        service.start_index()
        st.rerun()


# conversations ---------------------------------------------------------------------------------
def load_conversation(service: QAService) -> None:
    """Open the conversation the address names (``?c=ID``), e.g. after a reload."""
    wanted = st.query_params.get("c")
    if not wanted or wanted == st.session_state.get("conv_id"):
        return
    try:
        saved = service.conversations.get(wanted)
    except QAError as exc:
        st.session_state.conv_error = str(exc)
        return
    if saved is None:
        del st.query_params["c"]
        st.session_state.conv_error = (
            "That conversation no longer exists; it may have been deleted."
        )
        return
    messages: list[Turn] = []
    for turn in saved.turns:
        messages.append(Turn("user", turn.question))
        if turn.answer is not None:
            messages.append(Turn("assistant", turn.answer.answer, answer=turn.answer))
        else:
            error = turn.error or "No answer was saved."
            messages.append(Turn("assistant", error, error=error))
    st.session_state.messages = messages
    st.session_state.conv_id = wanted
    st.session_state.conversation = st.session_state.get("conversation", 0) + 1


def save_turn(service: QAService, question: Turn, reply: Turn) -> None:
    """Save a question and its reply; the first one creates the conversation and its address."""
    conv_id = st.session_state.get("conv_id")
    try:
        store = service.conversations
        if conv_id is None:
            conv_id = store.create()
            st.session_state.conv_id = conv_id
            st.query_params["c"] = conv_id
        store.append(conv_id, question.content, answer=reply.answer, error=reply.error)
    except QAError as exc:
        st.session_state.conv_error = f"This conversation is not being saved: {exc}"


def new_conversation() -> None:
    """Start afresh (the saved conversation stays in the list)."""
    st.session_state.messages = []
    st.session_state.conv_id = None
    st.session_state.conversation = st.session_state.get("conversation", 0) + 1
    st.query_params.pop("c", None)
    st.session_state.pop("deleting", None)


def _open(conv_id: str) -> None:
    st.query_params["c"] = conv_id  # load_conversation opens it at the top of the run


def conversations_panel(service: QAService) -> None:
    """New conversation; saved conversations to reopen; rename and delete the current one."""
    st.divider()
    st.header("Conversations")
    messages = st.session_state.get("messages", [])
    st.button(
        "New conversation",
        on_click=new_conversation,
        disabled=not messages,
        width="stretch",
        icon=":material/add:",
    )
    if error := st.session_state.pop("conv_error", None):
        st.warning(md_text(error))
    try:
        saved = [s for s in service.conversations.list(limit=30) if s.turns]
    except QAError as exc:
        st.warning(md_text(str(exc)))
        return
    current = st.session_state.get("conv_id")
    for summary in saved:
        is_current = summary.id == current
        st.button(
            md_text(summary.title or "Untitled"),
            key=f"open-{summary.id}",
            on_click=_open,
            args=(summary.id,),
            type="primary" if is_current else "tertiary",
            width="stretch",
            disabled=is_current,
        )
    if current and any(s.id == current for s in saved):
        left, right = st.columns(2)
        with left.popover("Rename", width="stretch"):
            title = st.text_input("New title", key=f"title-{current}")
            if st.button("Save title", key=f"rename-{current}"):
                try:
                    service.conversations.rename(current, title)
                    st.rerun()
                except QAError as exc:
                    st.warning(md_text(str(exc)))
        if right.button("Delete", key=f"delete-{current}", width="stretch"):
            st.session_state.deleting = current
    if (doomed := st.session_state.get("deleting")) and doomed == current:
        confirm_delete(service, doomed)


@st.dialog("Delete this conversation?", on_dismiss=lambda: _dismiss("deleting"))
def confirm_delete(service: QAService, conv_id: str) -> None:
    """Ask before a saved conversation is deleted."""
    st.markdown("Its questions and answers are deleted. This cannot be undone.")
    left, right = st.columns(2)
    if left.button("Delete", type="primary", width="stretch", key="confirm-delete"):
        _dismiss("deleting")
        try:
            service.conversations.delete(conv_id)
            new_conversation()
        except QAError as exc:
            st.session_state.conv_error = str(exc)
        st.rerun()
    if right.button("Keep it", width="stretch", key="cancel-delete"):
        _dismiss("deleting")
        st.rerun()


# settings --------------------------------------------------------------------------------------
def settings_panel(service: QAService) -> None:
    """The settings in a reader's words."""
    with st.expander("Settings"):
        for label, value in settings_summary(service.settings):
            st.caption(f"**{label}:** {md_text(value)}")
        st.caption("The administrator of this assistant changes them; they apply on restart.")
