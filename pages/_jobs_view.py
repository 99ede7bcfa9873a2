"""The background runs a page starts (jobs/: `univar train`, `build`, `rebuild` subprocesses): start one,
and the panel of this session's runs — progress, loss curve, log tail, error, Cancel, "Open the new map" —
redrawn every 2 s while one runs. The job folders a browser session started live in st.session_state.
"""
from __future__ import annotations

import streamlit as st

from pages import _ui
from univar_core.data.schema import QAInputError
from univar_core.figures.run_figures import loss_figure
from univar_core.jobs import runner, starters
from univar_core.jobs.runner import JobBusyError
from univar_core.maps.build import DEMO_MAP_NAME
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


# ---------------------------------------------------------------- the plain demo map, after a first launch
def start_plain_demo(data_dir: str) -> None:
    """The plain demo map ('demo': topics; QAs of new questions are placed on it) as a `univar demo` job:
    the first launch shows the value map without waiting for it. Busy with another job: the sidebar offers
    the build later (demo_build_status)."""
    job = starters.demo_build_job(DEMO_MAP_NAME, data_dir=data_dir)
    if job is not None and job.running:   # another first session started it
        return
    try:
        starters.start_demo_build(DEMO_MAP_NAME, data_dir=data_dir)
    except JobBusyError as err:
        st.toast(_ui.md(f"The plain demo map waits: {err}"))


def demo_build_status(data_dir: str, *, missing: bool, have_values: bool) -> None:
    """Sidebar: the plain demo map's background build while it runs (redrawn every 2 s; the app reruns when
    it ends, so the map list shows it), or, while the map is missing, why and a button that builds it."""
    if not missing or not have_values:
        return
    job = starters.demo_build_job(DEMO_MAP_NAME, data_dir=data_dir)
    if job is not None and job.running:
        _demo_build_polling(job.id)
        return
    if job is not None and job.state == "failed":
        st.warning(_ui.md(f"Building the plain demo map '{DEMO_MAP_NAME}' failed: {job.error}"))
    st.button(f"Build the plain demo map '{DEMO_MAP_NAME}'", key="build_plain_demo", on_click=start_plain_demo,
              args=(data_dir,), help="The demo's QAs on the encoder's own vectors (nearby QAs share a "
                                     "question); `univar demo --map demo` does the same.")


@st.fragment(run_every=2)
def _demo_build_polling(job_id: str) -> None:
    job = runner.read_job(job_id)
    if not job.running:
        st.rerun()   # the whole app: the map list now has the new map (or the sidebar says why not)
    where = f"{job.stage}: {job.done:,} / {job.total:,}" if job.total else (job.stage or "starting")
    st.progress(job.fraction, text=_ui.md(f"Building the plain demo map '{DEMO_MAP_NAME}' in the "
                                          f"background ({where})"))
