"""Loopline's app: page config and navigation, nothing else."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # `streamlit run app/main.py` from a checkout

st.set_page_config(page_title="Loopline", page_icon="🔁", layout="wide")
st.html("<style>.block-container {padding-top: 2.5rem;}</style>")  # less empty space above titles

pages = {
    "Workspace": [
        st.Page("views/home.py", title="Home", icon="🏠", default=True),
        st.Page("views/artifacts.py", title="Artifacts", icon="🗂️"),
    ],
    "Data management": [
        st.Page("views/data.py", title="Data", icon="🗃️"),
        st.Page("views/labeling.py", title="Labeling", icon="🏷️"),
        st.Page("views/review.py", title="Review & label sets", icon="⚖️"),
    ],
    "Modeling & CI": [
        st.Page("views/experiments.py", title="Experiments", icon="🧪"),
        st.Page("views/builds.py", title="Builds & releases", icon="🏗️"),
    ],
}
st.navigation(pages).run()
