"""The background runs a page starts (jobs/: `univar train`, `build`, `rebuild` subprocesses): start one,
and the panel of this session's runs — progress, loss curve, log tail, error, Cancel, "Open the new map" —
redrawn every 2 s while one runs. The job folders a browser session started live in st.session_state.
"""
from __future__ import annotations

import streamlit as st

from pages import _ui
from univar_core.data.schema import QAInputError
from univar_core.figures.run_figures import loss_figure
from univar_core.jobs import runner
from univar_core.jobs.runner import JobBusyError
from univar_core.maps.store import MapError
from univar_core.training.run_folder import read_loss_log

JOBS_KEY = "train_embed_jobs"      # session_state: job folders this session started (newest last)
SEEN_KEY = "train_embed_seen"      # session_state: ended jobs whose end already refreshed the page


def _my_jobs() -> list[runner.Job]:
    jobs = []
    for path in st.session_state.get(JOBS_KEY, []):
        try:
            jobs.append(runner.read_job(path))
        except FileNotFoundError:   # its folder was deleted
            continue
    return jobs


def start(start, *args, **kwargs) -> None:
    """Start a job through a starter; a refusal (busy) is a warning, bad input an error."""
    try:
        job = start(*args, **kwargs)
    except JobBusyError as err:
        st.warning(_ui.md(err))
        return
    except (MapError, QAInputError, ValueError, OSError) as err:
        st.error(_ui.md(err))
        return
    st.session_state.setdefault(JOBS_KEY, []).append(job.id)
    st.success(_ui.md(f"Started {job.label}."))


def _job_panel(job: runner.Job) -> None:
    icon = {"running": "⏳", "done": "✅", "failed": "❌", "cancelled": "⏹️"}.get(job.state, "")
    st.markdown(f"{icon} **{_ui.md(job.label)}**: {job.state}, {job.elapsed_s:.0f} s")
    text = f"{job.stage or job.kind}: {job.done:,} / {job.total:,}" if job.total else (job.stage or "starting")
    st.progress(job.fraction, text=text)
    if job.kind == "train":
        log = read_loss_log(job.path)
        if len(log):
            st.plotly_chart(loss_figure(log, "Loss"), key=f"job_loss_{job.id}", config={"displaylogo": False})
    if job.error:
        st.error(_ui.md(job.error))
    with st.expander("Log", expanded=job.state == "failed"):
        st.text("\n".join(job.log_tail(20)) or "(empty)")
    if job.running:
        st.button("Cancel", key=f"job_cancel_{job.id}", on_click=runner.cancel_job, args=(job.path,))
    result = job.status.get("result") or {}
    if job.kind == "build" and job.state == "done" and result.get("map_path"):
        st.success(_ui.md(f"Map '{result['map_name']}' built: {result.get('n_qas', 0):,} QAs."))
        st.button("Open the new map", key=f"job_open_{job.id}", on_click=_open_map, args=(result["map_path"],))


def _open_map(path: str) -> None:
    st.session_state["map_name"] = path   # the sidebar's selectbox (a callback runs before the script)


def live_jobs() -> None:
    """While a job runs the panel redraws itself every 2 s (a fragment); otherwise it is drawn once."""
    if runner.active_job() is not None:
        _jobs_polling()
    else:
        _jobs_panel()


@st.fragment(run_every=2)
def _jobs_polling() -> None:
    _jobs_panel()


def _jobs_panel() -> None:
    """The jobs of this session, newest first; a full rerun once one of them ends."""
    mine = _my_jobs()
    other = runner.active_job()
    if other is not None and other.id not in {j.id for j in mine}:
        st.info(_ui.md(f"Another session is running '{other.label}' ({other.done}/{other.total}); "
                       "a new run starts when it ends."))
    for job in reversed(mine[-3:]):
        _job_panel(job)
    seen = st.session_state.setdefault(SEEN_KEY, [])
    ended = [j.id for j in mine if not j.running and j.id not in seen]
    if ended:
        seen.extend(ended)
        st.rerun()   # refresh the runs list and the sidebar's maps
