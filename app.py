"""The chat page: `streamlit run app.py`. Thin on purpose: everything it shows comes from rag.pipeline.

A first version (the chat issue will add the sidebar, uploads, summaries and the browser test): questions
in, answers streamed token by token, then the verified answer with numbered citations that open to the
quoted passage, unsupported sentences marked, refusals shown as refusals.
"""

from __future__ import annotations

import streamlit as st

from rag.answer import Answer, history_from_turns
from rag.errors import RagError
from rag.pipeline import Pipeline


@st.cache_resource(show_spinner="Indexing the articles and loading the models...")
def get_pipeline() -> Pipeline:
    """One pipeline per process (models and index load once), with the corpus indexed."""
    pipeline = Pipeline()
    pipeline.ingest()
    return pipeline


def show(answer: Answer) -> None:
    if answer.refused:
        st.warning(answer.answer)
        for hit in answer.passages:
            with st.expander(f"Closest passage: {hit.source}"):
                st.markdown(hit.text)
    else:
        for s in answer.sentences:
            marks = " ".join(f"[{c}]" for c in s.citations)
            st.markdown(
                f"{s.text} {marks}" if s.supported else f":orange[{s.text} {marks}] *(not supported by the sources)*"
            )
        for c in answer.citations:
            with st.expander(f"[{c.id}] {c.source} ({c.start}-{c.end})"):
                st.markdown(f"> {c.quote}")
    if answer.condensed_question != answer.question:
        st.caption(f"Searched for: {answer.condensed_question}")
    if answer.note:
        st.caption(answer.note)


st.title("cited")
st.caption("Ask the articles in the corpus folder; every answer cites its sources.")
if "turns" not in st.session_state:
    st.session_state.turns = []  # (question, Answer)

for question, past in st.session_state.turns:
    st.chat_message("user").markdown(question)
    with st.chat_message("assistant"):
        show(past)

if question := st.chat_input("Ask a question about the articles"):
    st.chat_message("user").markdown(question)
    with st.chat_message("assistant"):
        try:
            pipeline = get_pipeline()
            history = history_from_turns([(q, a.answer) for q, a in st.session_state.turns])
            live, text, answer = st.empty(), "", None
            for item in pipeline.ask_stream(question, history):
                if isinstance(item, str):
                    text += item
                    live.markdown(text)
                else:
                    answer = item
            live.empty()
            if answer is not None:
                show(answer)
                st.session_state.turns.append((question, answer))
        except RagError as e:
            st.error(str(e))
