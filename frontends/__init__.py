"""The top layer: the ``qa`` command and the helpers of the Streamlit page (``app.py``)."""
