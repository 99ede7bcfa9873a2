"""univar_core: the UniVaR Explorer library (no UI code; never imports streamlit).

See docs/ARCHITECTURE.md for the module map and the contracts between modules.
"""
import os

# No model hub is reachable on the machines this runs on; never try one unless the user says so.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__version__ = "0.1.0"
